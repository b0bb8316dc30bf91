"""Choosing a profile from a model's shape and GPU: exact, nearest by GPU, nearest by size, and
nothing (never another model's profile unannounced)."""

import pytest

from sloserve.scheduling import model_catalog, profile_files, profile_resolution

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def shipped():
    return [profile_files.load_profile(name) for name in profile_files.available_profiles()]


def _resolve(shipped, model, gpu, tensor_parallel=1, dtype="bfloat16"):
    return profile_resolution.resolve_profile(
        model_id=model,
        gpu_product=gpu,
        tensor_parallel=tensor_parallel,
        profiles=shipped,
        dtype=dtype,
    )


@pytest.mark.parametrize(
    ("model", "gpu", "tensor_parallel", "expected"),
    [
        (LLAMA_8B, "NVIDIA-H200", 1, "h200-llama3-8b"),
        (LLAMA_8B, "NVIDIA-H100-80GB-HBM3", 1, "h100-llama3-8b"),
        (LLAMA_8B, "NVIDIA-H200", 2, "h200-llama3-8b-tp2"),
        ("meta-llama/Llama-3.2-1B-Instruct", "NVIDIA H200", 1, "h200-llama3.2-1b"),
        ("Qwen/Qwen2.5-32B-Instruct", "NVIDIA-H200-141GB-HBM3e", 4, "h200-qwen2.5-32b-tp4"),
    ],
)
def test_same_shape_on_the_same_gpu_resolves_exactly(
    shipped, model, gpu, tensor_parallel, expected
):
    resolution = _resolve(shipped, model, gpu, tensor_parallel)

    assert (resolution.profile, resolution.rule) == (expected, "exact")
    assert (resolution.prefill_scale, resolution.decode_scale) == (1.0, 1.0)


def test_same_shape_on_another_gpu_scales_by_compute_and_bandwidth_ratios(shipped):
    resolution = _resolve(shipped, LLAMA_8B, "NVIDIA-A100-SXM4-80GB")

    assert (resolution.profile, resolution.rule) == ("h100-llama3-8b", "nearest-gpu")
    assert resolution.prefill_scale == pytest.approx(989 / 312)
    assert resolution.decode_scale == pytest.approx(3.35 / 2.04)


def test_another_size_within_a_factor_of_two_scales_by_the_parameter_ratio(shipped):
    resolution = _resolve(shipped, "Qwen/Qwen2.5-14B-Instruct", "NVIDIA-H200")

    # 14.8B: the 8B (×1.84) is nearer than the 32B (×0.45, outside the factor of 2).
    assert (resolution.profile, resolution.rule) == ("h200-llama3-8b", "nearest-size")
    ratio = 14_770_033_664 / 8_030_261_248
    assert resolution.prefill_scale == resolution.decode_scale == pytest.approx(ratio)
    assert "×1.84" in resolution.message


@pytest.mark.parametrize(
    ("model", "gpu", "tensor_parallel", "dtype", "why"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", "NVIDIA-H200", 4, "bfloat16", "no profile fits"),
        ("acme/house-model", "NVIDIA-H200", 1, "bfloat16", "not in the catalogue"),
        (LLAMA_8B, None, 1, "bfloat16", "gpuProduct is not set"),
        (LLAMA_8B, "Tesla-T4", 1, "bfloat16", "'Tesla-T4' is not in the catalogue"),
        (LLAMA_8B, "NVIDIA-H200", 1, "fp8", "no profile fits"),
    ],
)
def test_nothing_that_fits_resolves_to_none_with_the_reason(
    shipped, model, gpu, tensor_parallel, dtype, why
):
    resolution = _resolve(shipped, model, gpu, tensor_parallel, dtype)

    assert (resolution.resolved, resolution.rule) == (False, "none")
    assert why in resolution.message
    assert "spec.engine" in resolution.message


def test_model_ids_match_whatever_their_organisation_and_instruct_suffix():
    shape = model_catalog.model_shape("meta-llama/Meta-Llama-3.1-8B-Instruct")

    assert shape == model_catalog.model_shape("llama-3.1-8b")
    assert shape is not None
    assert shape.layers == 32


@pytest.mark.parametrize(
    ("product", "family"),
    [
        ("NVIDIA-H100-80GB-HBM3", "h100"),
        ("NVIDIA-H100-PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA-GH200-480GB", "gh200"),
        ("NVIDIA-A100-SXM4-80GB", "a100"),
    ],
)
def test_gpu_products_and_profile_devices_map_to_one_family(product, family):
    spec = model_catalog.gpu_spec(product)

    assert spec is not None
    assert spec.family == family
