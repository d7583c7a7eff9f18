"""The registry of file kinds: folder, top-level key and model of each."""

from __future__ import annotations

from dataclasses import dataclass

from dwh_dagster.config.models.base import StrictModel
from dwh_dagster.config.models.channels import ChannelFile
from dwh_dagster.config.models.destinations import DestinationFile
from dwh_dagster.config.models.jobs import JobFile
from dwh_dagster.config.models.pipelines import PipelineFile
from dwh_dagster.config.models.secrets import SecretsMappingFile
from dwh_dagster.config.models.sources import SourceFile
from dwh_dagster.config.models.transformations import TransformationFile
from dwh_dagster.config.models.triggers import TriggerFile


@dataclass(frozen=True)
class FileKind:
    """One kind of YAML file: where it lives, its top key and its model."""

    kind: str
    folder: str
    top_key: str
    model: type[StrictModel]

    @property
    def label(self) -> str:
        """Human name, for messages."""
        return "secrets mapping" if self.top_key == "secrets" else self.top_key


FILE_KINDS: tuple[FileKind, ...] = (
    FileKind("sources", "sources", "source", SourceFile),
    FileKind("destinations", "destinations", "destination", DestinationFile),
    FileKind("pipelines", "pipelines", "pipeline", PipelineFile),
    FileKind("jobs", "jobs", "job", JobFile),
    FileKind("triggers", "triggers", "trigger", TriggerFile),
    FileKind("channels", "channels", "channel", ChannelFile),
    FileKind("transformations", "transformations", "transformation", TransformationFile),
)
SECRETS_KIND = FileKind("secrets", ".", "secrets", SecretsMappingFile)
SECRETS_FILE_NAMES = ("secrets_mapping.yaml", "secrets_mapping.yml")

KIND_BY_FOLDER = {k.folder: k for k in FILE_KINDS}
KIND_BY_TOP_KEY = {k.top_key: k for k in (*FILE_KINDS, SECRETS_KIND)}
ALL_KINDS: tuple[FileKind, ...] = (*FILE_KINDS, SECRETS_KIND)
