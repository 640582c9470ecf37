"""Typed, validated parameters with physical units.

Every length is in micrometres (``_um``), every time in seconds (``_s``) or
frames (``_frames``). Unknown keys are refused (``extra="forbid"``) so that a
typo in a configuration file is an error, never a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "InputParams",
    "RecipientParams",
    "DonorParams",
    "BridgeParams",
    "TrackParams",
    "EventParams",
    "Params",
    "ParamsError",
    "load_params",
    "dump_params",
]


class ParamsError(ValueError):
    """Raised when a parameter file or value is invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class InputParams(_Model):
    """Channel roles and calibration overrides (``None`` = read from metadata)."""

    mito_channel: int = Field(0, ge=0, description="channel of the donor mitochondria")
    membrane_channel: int = Field(1, ge=0, description="channel of the recipient membrane")
    nuclei_channel: int | None = Field(None, ge=0, description="optional nuclei channel")
    pixel_size_um: float | None = Field(None, gt=0, description="x/y pixel size override")
    z_step_um: float | None = Field(None, gt=0, description="z step override")
    frame_interval_s: float | None = Field(None, gt=0, description="frame interval override")
    bleed_through: float = Field(
        0.0, ge=0, le=1,
        description="membrane->mito bleed-through coefficient k (0-1, estimated from a "
                    "recipient-only control); when > 0 each frame's mito channel becomes "
                    "mito - k x (membrane - membrane background) before segmentation",
    )

    @model_validator(mode="after")
    def _distinct_roles(self) -> "InputParams":
        roles = [self.mito_channel, self.membrane_channel]
        if self.nuclei_channel is not None:
            roles.append(self.nuclei_channel)
        if len(set(roles)) != len(roles):
            raise ValueError(f"channel roles must be distinct channels, got {roles}")
        return self


class RecipientParams(_Model):
    """Recipient cell segmentation from the membrane channel."""

    marker: Literal["auto", "ring", "filled"] = Field(
        "auto", description="membrane dye outlining cells (ring) or cytoplasmic fill (filled)"
    )
    smoothing_um: float = Field(0.5, gt=0, description="Gaussian sigma before thresholding")
    cell_diameter_um: float | Literal["auto"] = Field(
        "auto",
        description="typical recipient cell diameter; 'auto': estimated per movie from the "
                    "membrane channel (and nuclei when given), see mtrack.cellsize",
    )
    min_cell_diameter_um: float = Field(
        5.0, gt=0, description="objects with a smaller equivalent diameter are discarded"
    )
    threshold_scale: float = Field(
        1.0, gt=0, description="multiplier on the automatic foreground threshold"
    )

    @field_validator("cell_diameter_um", mode="before")
    @classmethod
    def _diameter(cls, value: Any) -> float | str:
        """``"auto"`` or a positive finite number of µm (numeric strings from YAML/CLI too)."""
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if number > 0 and number != float("inf"):
                return number
        raise ValueError(f"must be a positive number of µm or 'auto', got {value!r}")


class DonorParams(_Model):
    """Donor mitochondria (discrete objects) and donor bodies."""

    mito_width_um: float = Field(0.5, gt=0, description="typical mitochondrion width")
    background_um: float = Field(2.0, gt=0, description="scale of background removal")
    threshold_sigma: float = Field(
        6.0, gt=0, description="detection threshold in robust noise standard deviations"
    )
    min_size_um: float = Field(0.4, gt=0, description="min equivalent diameter of an object")
    max_size_um: float = Field(5.0, gt=0, description="max equivalent diameter of an object")
    min_punctate: float = Field(
        0.18, gt=0, description="min share of an object's signal above its surroundings, 0-1"
    )
    bleed_through: float = Field(
        0.0, ge=0, le=1, description="membrane->mito bleed-through coefficient to subtract"
    )
    body_scale_um: float = Field(2.0, gt=0, description="closing radius that joins a donor body")
    body_min_diameter_um: float = Field(
        6.0, gt=0, description="min equivalent diameter of a donor body"
    )

    @model_validator(mode="after")
    def _size_range(self) -> "DonorParams":
        if self.min_size_um >= self.max_size_um:
            raise ValueError("min_size_um must be smaller than max_size_um")
        return self


class BridgeParams(_Model):
    """Tunneling-nanotube-like bridges between cells (membrane channel)."""

    enabled: bool = Field(True, description="detect bridges and tnt routes")
    min_width_um: float = Field(0.2, gt=0, description="thinnest bridge to look for")
    max_width_um: float = Field(1.5, gt=0, description="widest bridge to look for")
    threshold_sigma: float = Field(
        5.0, gt=0, description="ridge detection threshold in robust noise standard deviations"
    )
    min_length_um: float = Field(4.0, gt=0, description="shortest bridge (between the cells)")
    max_length_um: float = Field(80.0, gt=0, description="longest bridge")
    contact_um: float = Field(1.0, gt=0, description="a bridge end this close to a cell touches it")
    min_height_um: float = Field(
        1.5, ge=0, description="3D: a bridge must hover this far above the substrate"
    )
    cargo_distance_um: float = Field(
        1.0, gt=0, description="a donor object this close to a bridge is on it"
    )

    @model_validator(mode="after")
    def _ranges(self) -> "BridgeParams":
        if self.min_width_um >= self.max_width_um:
            raise ValueError("min_width_um must be smaller than max_width_um")
        if self.min_length_um >= self.max_length_um:
            raise ValueError("min_length_um must be smaller than max_length_um")
        return self


class TrackParams(_Model):
    """Linking recipient cells and donor objects across frames."""

    max_cell_displacement_um: float = Field(
        6.0, gt=0, description="max centroid displacement of a recipient between frames"
    )
    max_speed_um_per_s: float = Field(
        1.5, gt=0,
        description="fastest donor object (µm/s): the linking gate is this x the frame interval "
                    "(mitochondria move 0.05-0.5 µm/s in TNTs, 0.5-2 µm/s in directed runs "
                    "on microtubules)",
    )
    min_step_um: float = Field(
        1.5, gt=0, description="smallest linking gate (µm): jitter and shape changes of a "
                               "resting mitochondrion between frames",
    )
    max_step_um: float = Field(
        12.0, gt=0, description="largest linking gate (µm), whatever the frame interval: "
                                "directed runs rarely exceed ~10 µm",
    )
    max_gap_frames: int = Field(1, ge=0, le=5, description="frames an object may go missing")

    @model_validator(mode="after")
    def _steps(self) -> "TrackParams":
        if self.min_step_um > self.max_step_um:
            raise ValueError("min_step_um must not exceed max_step_um")
        return self


class EventParams(_Model):
    """Calling transfer events."""

    margin_um: float = Field(
        0.8, ge=0, description="recipient mask eroded by this before testing containment"
    )
    min_containment: float = Field(
        0.6, gt=0, le=1, description="fraction of the object inside the eroded recipient"
    )
    min_persistence_frames: int = Field(
        3, ge=1, description="frames (gaps included) an object must stay inside"
    )
    baseline_frames: int = Field(
        2, ge=1, description="objects present in these first frames are the starting state"
    )
    novelty_distance_um: float = Field(
        2.0, gt=0, description="an object this close to an earlier one in the cell is not new"
    )
    novelty_memory_frames: int = Field(
        3, ge=1, description="how many earlier frames the novelty test looks back"
    )
    prior_signal_um: float = Field(
        1.0, gt=0, description="block size of the donor-signal map kept per frame"
    )
    prior_signal_frames: int = Field(
        2, ge=1, description="not new if its place held donor signal in this many earlier frames"
    )
    prior_signal_ratio: float = Field(
        0.3, ge=0, le=1, description="signal before onset, relative to the object's, that counts"
    )
    min_event_snr: float = Field(
        10.0, gt=0, description="an event's object must reach this signal-to-noise ratio"
    )
    route_window_frames: int = Field(
        5, ge=1, description="frames before onset searched for cargo on a donor bridge (tnt)"
    )
    contact_distance_um: float = Field(
        4.0, ge=0, description="route 'contact' when the object entered this close to a donor body"
    )


class Params(_Model):
    """All parameters of an mtrack run."""

    input: InputParams = Field(default_factory=InputParams)
    recipient: RecipientParams = Field(default_factory=RecipientParams)
    donor: DonorParams = Field(default_factory=DonorParams)
    bridge: BridgeParams = Field(default_factory=BridgeParams)
    track: TrackParams = Field(default_factory=TrackParams)
    event: EventParams = Field(default_factory=EventParams)

    def updated(self, overrides: dict[str, dict[str, Any]]) -> "Params":
        """Return a copy with ``{"section": {"key": value}}`` overrides applied and validated."""
        data = self.model_dump()
        for section, values in overrides.items():
            if section not in data:
                raise ParamsError(f"unknown parameter section '{section}'")
            data[section].update({k: v for k, v in values.items() if v is not None})
        return _validate(data, source="overrides")


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown parameter '{loc}'"
    return f"parameter '{loc}': {first['msg']}" if loc else first["msg"]


def _validate(data: Any, source: str) -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(f"{source}: {_format_error(err)}") from None


def load_params(path: str | Path) -> Params:
    """Read parameters from a YAML file; missing keys take their defaults.

    Raises
    ------
    ParamsError
        When the file is missing, is not YAML, or names an unknown or invalid parameter.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameter file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of parameter sections")
    return _validate(data, source=str(path))


def dump_params(params: Params) -> str:
    """Serialise parameters to YAML text (round-trips through :func:`load_params`)."""
    return yaml.safe_dump(params.model_dump(), sort_keys=False)
