"""Options of targets (``targets.<name>``) that are part of the language.

Every target's options model derives from :class:`TargetOptions`. The image settings
(``targets.docker``) are more than one target's business: the training image runs the
pipeline's nodes in Airflow and Kubernetes, GitHub builds and pushes both images, and the
serving deployment names them. They are therefore a language model the compiler reads to
decide the Plan's ``images``, and the docker target takes them as its options.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlspec import diagnostics as dx
from mlspec.language.types import pattern_str

_OPTION = dx.TARGET_OPTION_INVALID
DEFAULT_UID = 10001


def _allow_extensions(schema: dict[str, Any]) -> None:
    schema["patternProperties"] = {"^x-": {"description": "extension, ignored by mlspec"}}


class TargetOptions(BaseModel):
    """Options every target has; targets subclass this for their own."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False,
                              json_schema_extra=_allow_extensions)

    enabled: bool = Field(True, description="Emit this target's artifacts.")


ImageRegistry = pattern_str(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$", _OPTION, "image registry",
    hint="a registry and namespace such as 'ghcr.io/example' or 'registry.example.com:5000/ml'",
    max_length=200, examples=["ghcr.io/example"],
)
PipRequirement = pattern_str(
    r"^[A-Za-z0-9](?:[^\x00-\x1f\x7f]{0,498}[^\x00-\x20\x7f])?$", _OPTION, "pip requirement",
    hint="one requirement as pip reads it, e.g. 'mlspec-compiler[runtime]==0.4.0', a wheel URL, or "
         "'mlspec-compiler[runtime] @ git+https://github.com/mlspec/mlspec@<commit>'", max_length=500,
)


class ImageOptions(TargetOptions):
    """The project's container images (``targets.docker``)."""

    registry: ImageRegistry | None = Field(
        None, description="Registry and namespace the images are pushed to, e.g. 'ghcr.io/example'. The "
                          "serving image is '<registry>/<project>', the training image "
                          "'<registry>/<project>-train'. Without it images are only built, not pushed.")
    mlspec_install: PipRequirement | None = Field(
        None, description="The pip requirement that installs mlspec wherever the generated pipelines run it "
                          "(images, CI jobs, Airflow workers). Default: exactly the mlspec version that "
                          "generated the files, with the extras the project needs, e.g. "
                          "'mlspec-compiler[runtime]==0.1.0'; a wheel URL, a private index's name or a git "
                          "commit work too.")
    uid: int = Field(DEFAULT_UID, ge=1000, le=2**31 - 2,
                     description="Numeric user and group id the images and pods run as (never root).")
    train_image: bool = Field(True, description="Emit docker/<project>.train.Dockerfile (when the plan has commands).")
    serve_image: bool = Field(True, description="Emit docker/<project>.serve.Dockerfile (when the spec has `serving`).")
