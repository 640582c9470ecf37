import pandas as pd

from mtrack.evaluate import score_events


def _events(rows, **extra):
    table = pd.DataFrame(rows, columns=["t", "z", "y", "x"])
    for k, v in extra.items():
        table[k] = v
    return table


def test_perfect_and_tolerances():
    truth = _events([(5, 0, 10, 10), (8, 0, 50, 50)], kind="transfer", route="contact")
    called = _events([(6, 0, 12, 11), (8, 0, 50, 50)], route="contact", status="auto")
    s = score_events(called, truth)
    assert (s["tp"], s["fp"], s["fn"], s["f1"]) == (2, 0, 0, 1.0)
    assert s["max_onset_error"] == 1 and s["route_accuracy"] == 1.0
    assert s["route_accuracy_by_route"] == {"contact": 1.0}


def test_misses_false_calls_and_decoys():
    truth = pd.concat([
        _events([(5, 0, 10, 10)], kind="transfer", route="contact"),
        _events([(3, 0, 80, 80)], kind="decoy", route=""),
    ])
    called = _events([(9, 0, 10, 10), (7, 0, 82, 79)], route="unknown")
    s = score_events(called, truth)
    assert s["tp"] == 0 and s["fp"] == 2 and s["fn"] == 1
    assert s["decoys_called"] == 1 and s["f1"] == 0.0


def test_rejected_rows_are_ignored_and_review_as_truth():
    called = _events([(5, 0, 10, 10), (9, 0, 40, 40)], status=["auto", "auto"], route="unknown")
    reviewed = _events([(5, 0, 10, 10), (9, 0, 40, 40), (12, 0, 70, 70)],
                       status=["accepted", "rejected", "added"], route="unknown")
    s = score_events(called, reviewed)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert s["precision"] == 0.5 and s["decoys_called"] == 1


def test_reviewed_table_against_itself_scores_the_automatic_calls():
    reviewed = _events([(5, 0, 10, 10), (9, 0, 40, 40), (12, 0, 70, 70), (15, 0, 90, 20)],
                       status=["accepted", "rejected", "added", "auto"], route="unknown")
    s = score_events(reviewed, reviewed)
    # calls: accepted (tp) and rejected (fp); the added event was missed (fn); the
    # unreviewed call is left out
    assert (s["tp"], s["fp"], s["fn"], s["unreviewed"]) == (1, 1, 1, 1)
    assert s["precision"] == 0.5 and s["recall"] == 0.5


def test_onset_accuracy_counts_calls_within_one_frame_and_two_um():
    import math

    from mtrack.evaluate import onset_accuracy

    truth = pd.concat([
        _events([(5, 0, 10, 10), (8, 0, 50, 50), (12, 0, 90, 90)], kind="transfer"),
        _events([(3, 0, 130, 130)], kind="decoy"),
    ])
    scale = (1.0, 0.5, 0.5)
    # on time (1 frame, 1 µm); late by 2 frames (matched, not on time); 5 px = 2.5 µm away
    called = _events([(6, 0, 12, 10), (10, 0, 50, 50), (12, 0, 95, 90), (3, 0, 130, 130)])
    assert onset_accuracy(called, truth, scale) == 1 / 3
    # a looser window counts all three; nothing matched gives NaN
    assert onset_accuracy(called, truth, scale, frames=2, um=3.0) == 1.0
    assert math.isnan(onset_accuracy(called.iloc[3:], truth, scale))
