import itertools
import json
import sys

import pydantic
import pytest

from sloserve.scheduling import latency_fit, latency_profile, profile_files


def test_profile_document_round_trips_through_the_schema(profile_document):
    profile = latency_profile.parse_profile(json.dumps(profile_document()))

    assert profile.schema_id == latency_profile.SCHEMA_V1
    assert profile.prefill[0].tokens == 16
    assert profile.decode[-1].batch == 256
    assert profile.mixed == ()


def test_validation_errors_name_the_offending_point(profile_document):
    document = profile_document()
    document["decode"][3]["ms"] = -1.0

    with pytest.raises(pydantic.ValidationError, match=r"decode\.3\.ms"):
        latency_profile.parse_profile(json.dumps(document))


def test_unknown_schema_version_is_refused(profile_document):
    document = profile_document()
    document["schema"] = "sloserve.latency-profile/v9"

    with pytest.raises(pydantic.ValidationError, match="schema"):
        latency_profile.parse_profile(json.dumps(document))


def test_misspelt_top_level_field_is_refused_not_ignored(profile_document):
    document = profile_document()
    document["cpu_overhead_ms"] = document.pop("cpu_overhead_ms_per_step")

    with pytest.raises(pydantic.ValidationError, match="cpu_overhead_ms"):
        latency_profile.parse_profile(json.dumps(document))


@pytest.fixture
def packaged_profiles(tmp_path, monkeypatch, profile_document):
    """A throwaway package with a profiles/ directory, standing in for sloserve's own."""
    package = tmp_path / "profilepkg"
    (package / "profiles").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("gpu-a", "gpu-b"):
        document = profile_document(name=name)
        (package / "profiles" / f"{name}.json").write_text(json.dumps(document))
    (package / "profiles" / "misnamed.json").write_text(json.dumps(profile_document(name="other")))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(profile_files, "_PROFILE_PACKAGE", "profilepkg")
    yield
    sys.modules.pop("profilepkg", None)


@pytest.mark.usefixtures("packaged_profiles")
def test_loads_a_shipped_profile_by_name():
    assert profile_files.available_profiles() == ["gpu-a", "gpu-b", "misnamed"]

    profile = profile_files.load_profile("gpu-b")

    assert profile.name == "gpu-b"


@pytest.mark.usefixtures("packaged_profiles")
def test_unknown_profile_name_lists_the_shipped_ones():
    with pytest.raises(LookupError, match="'gpu-c'; shipped profiles: gpu-a, gpu-b, misnamed"):
        profile_files.load_profile("gpu-c")


@pytest.mark.usefixtures("packaged_profiles")
def test_profile_whose_name_disagrees_with_its_file_is_refused():
    with pytest.raises(ValueError, match=r"misnamed\.json has name 'other'"):
        profile_files.load_profile("misnamed")


def test_a_path_is_not_a_profile_name():
    with pytest.raises(LookupError, match="is not a profile name"):
        profile_files.load_profile("../pyproject")


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_every_shipped_profile_loads_and_fits(name):
    fitted = latency_fit.fit_latency_model(profile_files.load_profile(name))

    assert fitted.prefill_fit.points >= 2
    assert fitted.decode_fit.points >= 4
    assert fitted.model.prefill_time_s(1024) > 0
    assert fitted.model.decode_step_time_s(1, 1024) > 0


# Repeats of one point differ by a few percent (bench/gpu/README.md); a step measured more than
# this much faster than a smaller one is a measuring fault, not noise.
MONOTONE_SLACK = 0.97


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_no_shipped_decode_step_is_faster_than_a_smaller_one(name):
    profile = profile_files.load_profile(name)
    faster = [
        (small.batch, small.context, big.batch, big.context)
        for small in profile.decode
        for big in profile.decode
        if big.batch >= small.batch
        and big.context >= small.context
        and big is not small
        and big.ms < small.ms * MONOTONE_SLACK
    ]

    assert not faster, f"{name}: larger decode steps measured faster: {faster[:3]}"


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_no_shipped_prefill_is_faster_than_a_shorter_one(name):
    points = sorted(profile_files.load_profile(name).prefill, key=lambda point: point.tokens)

    faster = [
        (short.tokens, long.tokens)
        for short, long in itertools.pairwise(points)
        if long.ms < short.ms * MONOTONE_SLACK
    ]

    assert not faster, f"{name}: longer prefills measured faster: {faster}"


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_derived_profiles_name_a_shipped_source_of_the_same_model(name):
    profile = profile_files.load_profile(name)
    provenance = profile.provenance.model_extra or {}
    if not provenance.get("derived"):
        pytest.skip(f"{name} is measured, not derived")
    source = profile_files.load_profile(provenance["derived_from"])
    tensor_parallel = (profile.model.model_extra or {})["tensor_parallel"]

    assert tensor_parallel > 1
    assert profile.model.shape == source.model.shape
    assert profile.device == source.device
    assert profile.weights_bytes == source.weights_bytes // tensor_parallel
    # every split step is faster than the one-GPU step it came from
    assert all(
        split.ms < whole.ms for split, whole in zip(profile.decode, source.decode, strict=True)
    )


@pytest.mark.parametrize("name", profile_files.available_profiles())
def test_profiles_with_a_measured_cpu_overhead_record_its_samples(name):
    profile = profile_files.load_profile(name)
    overhead = (profile.provenance.model_extra or {}).get("cpu_overhead")
    if not isinstance(overhead, dict) or "samples" not in overhead:
        pytest.skip(f"{name} predates the measured CPU overhead")

    assert len(overhead["samples"]) >= 2
    assert 0 < profile.cpu_overhead_ms_per_step < 5.0
