"""The shipped interference predictor: extra trees on log P over summary features, trained on
several GPUs' co-location datasets at once, exported to ONNX for onnxruntime.

Why this model (bench/results/interference_predictor_study.json): on whole held-out kinds,
averaged randomized trees beat boosting and the dual-branch network. Boosting fits the training
kinds' residuals exactly, and the network memorizes the kinds by their readings; extra trees are
smoother in between the few kinds the data has, and like any tree model they stay within the
range of labels they saw, which is the safer error on an unseen kind. The target is log P:
slowdowns combine by ratio, and most labelled rows are heavily slowed (median P about 0.4).

The export writes scikit-learn's fitted trees as one ONNX `TreeEnsembleRegressor` (domain
`ai.onnx.ml`, averaged over trees), followed by exp and a clip to (0, P_MAX], so the graph's
output is P itself. The feature rows are built by `tree_features`, outside the graph.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import ExtraTreesRegressor

from sloserve.placement.series import FloatArray

__all__ = [
    "MODEL_KIND",
    "P_FLOOR",
    "P_MAX",
    "TreeSettings",
    "export_trees",
    "fit_trees",
    "gpu_weights",
]

#: The `model` metadata value of an exported tree predictor.
MODEL_KIND = "extra_trees_log_p"
#: The largest P the graph outputs, as the network's: the extra 0.1 leaves room for label
#: noise (a co-located window slightly faster than the solo one). Not imported from the network
#: module, which needs PyTorch; training the trees does not.
P_MAX = 1.1
#: Labels below this P are taken as this before the log: a 20x slowdown is already unplaceable,
#: and the few 30-40x rows would otherwise dominate the fit.
P_FLOOR = 0.05


@dataclasses.dataclass(frozen=True, kw_only=True)
class TreeSettings:
    """Chosen by leave-one-training-kind-out validation on both GPUs' rows, the held-out kinds
    dropped first (bench/results/interference_tree_validation.json): leaves of one row beat
    the study's three (mean MAE 0.059 against 0.061; best in 7 of 11 folds), and more trees,
    every feature per split, or weighing the GPUs equally did not help."""

    trees: int = 200
    min_samples_leaf: int = 1
    max_features: float = 0.5
    seed: int = 0
    #: Weigh each GPU's rows so that every GPU counts as much in the fit, whatever its row count.
    balance_gpus: bool = False


def gpu_weights(counts: Sequence[int]) -> FloatArray:
    """Per-row weights for rows grouped by GPU (`counts` rows each, in order) that give every
    GPU the same total weight; the weights average 1."""
    total = sum(counts)
    return np.concatenate(
        [np.full(count, total / (len(counts) * count), dtype=np.float32) for count in counts]
    )


def fit_trees(
    features: FloatArray,
    targets: FloatArray,
    settings: TreeSettings,
    weights: FloatArray | None = None,
) -> ExtraTreesRegressor:
    """Extra trees fitted to log P (`targets` are P), rows weighted by `weights` if given."""
    model = ExtraTreesRegressor(
        n_estimators=settings.trees,
        min_samples_leaf=settings.min_samples_leaf,
        max_features=settings.max_features,
        random_state=settings.seed,
        n_jobs=1,
    )
    model.fit(features, np.log(np.clip(targets, P_FLOOR, None)), sample_weight=weights)
    return model


def _ensemble_node(model: ExtraTreesRegressor, features: int) -> onnx.NodeProto:
    tree_ids: list[int] = []
    node_ids: list[int] = []
    feature_ids: list[int] = []
    values: list[float] = []
    modes: list[str] = []
    true_ids: list[int] = []
    false_ids: list[int] = []
    target_tree: list[int] = []
    target_node: list[int] = []
    weights: list[float] = []
    for tree_index, estimator in enumerate(model.estimators_):
        tree = estimator.tree_
        for node in range(tree.node_count):
            left, right = int(tree.children_left[node]), int(tree.children_right[node])
            tree_ids.append(tree_index)
            node_ids.append(node)
            if left == -1:
                modes.append("LEAF")
                feature_ids.append(0)
                values.append(0.0)
                true_ids.append(0)
                false_ids.append(0)
                target_tree.append(tree_index)
                target_node.append(node)
                weights.append(float(tree.value[node][0][0]))
            else:
                # scikit-learn sends x <= threshold to the left child.
                modes.append("BRANCH_LEQ")
                feature_ids.append(int(tree.feature[node]))
                values.append(float(tree.threshold[node]))
                true_ids.append(left)
                false_ids.append(right)
    if max(feature_ids) >= features:
        raise ValueError(f"the trees read feature {max(feature_ids)}; only {features} declared")
    return helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["log_p"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="AVERAGE",
        post_transform="NONE",
        nodes_treeids=tree_ids,
        nodes_nodeids=node_ids,
        nodes_featureids=feature_ids,
        nodes_values=values,
        nodes_modes=modes,
        nodes_truenodeids=true_ids,
        nodes_falsenodeids=false_ids,
        nodes_missing_value_tracks_true=[0] * len(node_ids),
        target_treeids=target_tree,
        target_nodeids=target_node,
        target_ids=[0] * len(target_node),
        target_weights=weights,
    )


def export_trees(
    model: ExtraTreesRegressor,
    path: pathlib.Path,
    *,
    feature_names: Sequence[str],
    metadata: Mapping[str, str],
) -> None:
    """Writes `model` as ONNX: input `features` (batch, len(feature_names)) float32, output `p`
    (batch, 1), with `metadata` and the feature names as the model's metadata."""
    width = len(feature_names)
    floor = helper.make_tensor("p_min", TensorProto.FLOAT, [], [1e-6])
    ceiling = helper.make_tensor("p_max", TensorProto.FLOAT, [], [P_MAX])
    graph = helper.make_graph(
        [
            _ensemble_node(model, width),
            helper.make_node("Exp", ["log_p"], ["p_raw"]),
            helper.make_node("Clip", ["p_raw", "p_min", "p_max"], ["p"]),
        ],
        "interference_trees",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["batch", 1])],
        initializer=[floor, ceiling],
    )
    exported = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="sloserve",
    )
    exported.ir_version = 8
    entries = {**metadata, "model": MODEL_KIND, "feature_names": json.dumps(list(feature_names))}
    for key, value in entries.items():
        exported.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(exported)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(exported, str(path))
