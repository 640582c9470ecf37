import pytest

from mtrack.params import Params, ParamsError, dump_params, load_params


def test_defaults_round_trip(tmp_path):
    params = Params()
    path = tmp_path / "p.yaml"
    path.write_text(dump_params(params))
    assert load_params(path) == params


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("event:\n  margin_um: 1.5\n")
    params = load_params(path)
    assert params.event.margin_um == 1.5
    assert params.donor == Params().donor


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("event:\n  margin_mu: 1.0\n", "unknown parameter 'event.margin_mu'"),
        ("colour: red\n", "unknown parameter 'colour'"),
        ("donor:\n  mito_width_um: -1\n", "donor.mito_width_um"),
        ("input:\n  pixel_size_um: 0\n", "input.pixel_size_um"),
        ("donor:\n  min_size_um: 6\n  max_size_um: 5\n", "min_size_um"),
        ("- a\n- b\n", "mapping"),
        ("event: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_give_one_line(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_updated_validates_and_ignores_none():
    params = Params().updated({"input": {"mito_channel": 2, "membrane_channel": None}})
    assert params.input.mito_channel == 2 and params.input.membrane_channel == 1
    with pytest.raises(ParamsError, match="distinct"):
        Params().updated({"input": {"mito_channel": 1}})
    with pytest.raises(ParamsError, match="unknown parameter section"):
        Params().updated({"bogus": {"a": 1}})


def test_bundled_pipeline_files_load():
    from pathlib import Path

    files = sorted(p for p in (Path(__file__).resolve().parents[1] / "pipelines").glob("*.yaml")
                   if not p.name.startswith("cluster_"))  # cluster files: test_cluster.py
    assert len(files) >= 3
    for path in files:
        load_params(path)


def test_cell_diameter_is_auto_or_a_positive_number(tmp_path):
    from mtrack.params import Params, ParamsError, dump_params, load_params

    assert Params().recipient.cell_diameter_um == "auto"
    path = tmp_path / "p.yaml"
    for value in ("auto", 22.5):
        params = Params().updated({"recipient": {"cell_diameter_um": value}})
        path.write_text(dump_params(params))
        assert load_params(path).recipient.cell_diameter_um == value
    path.write_text("recipient:\n  cell_diameter_um: 18\n")
    assert load_params(path).recipient.cell_diameter_um == 18.0
    for bad in (0, -3, "big", True, float("nan"), float("inf")):
        with pytest.raises(ParamsError, match="cell_diameter_um.*positive number of µm or 'auto'"):
            Params().updated({"recipient": {"cell_diameter_um": bad}})
