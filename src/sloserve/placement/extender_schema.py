"""The kube-scheduler extender protocol (k8s.io/kube-scheduler/extender/v1) as pydantic models.

The scheduler writes Go field names (`Pod`, `Nodes`, `NodeNames`) and reads replies
case-insensitively; replies here use the Go names too.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = ["ExtenderArgs", "ExtenderFilterResult", "HostPriority", "NodeList"]


class NodeList(BaseModel):
    """A v1.NodeList; only `items` is read."""

    model_config = ConfigDict(extra="allow")

    items: list[dict[str, Any]] = Field(default_factory=list)


class ExtenderArgs(BaseModel):
    """Body of `POST /filter` and `POST /prioritize`: the pod and its candidate nodes (full
    objects when the extender is not node-cache capable, else only names)."""

    model_config = ConfigDict(extra="ignore")

    pod: dict[str, Any] = Field(validation_alias=AliasChoices("Pod", "pod"))
    nodes: NodeList | None = Field(default=None, validation_alias=AliasChoices("Nodes", "nodes"))
    node_names: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("NodeNames", "nodenames", "nodeNames")
    )

    def candidate_nodes(self) -> list[dict[str, Any]]:
        """Node objects; a node given by name only becomes `{"metadata": {"name": ...}}`."""
        if self.nodes is not None:
            return list(self.nodes.items)
        return [{"metadata": {"name": name}} for name in self.node_names or ()]


class ExtenderFilterResult(BaseModel):
    """Reply to `POST /filter`: the nodes that pass (in the form they were given) and, for each
    node filtered out, why."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    nodes: NodeList | None = Field(default=None, alias="Nodes")
    node_names: list[str] | None = Field(default=None, alias="NodeNames")
    failed_nodes: dict[str, str] = Field(default_factory=dict, alias="FailedNodes")
    failed_and_unresolvable_nodes: dict[str, str] = Field(
        default_factory=dict, alias="FailedAndUnresolvableNodes"
    )
    error: str = Field(default="", alias="Error")


class HostPriority(BaseModel):
    """One entry of the reply to `POST /prioritize` (a HostPriorityList)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    host: str = Field(alias="Host")
    score: int = Field(ge=0, le=10, alias="Score")
