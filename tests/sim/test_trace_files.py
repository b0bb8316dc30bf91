"""Trace files for the simulator: the three formats, malformed lines named by number, prefix
workloads, and requests longer than the context rejected instead of aborting a run."""

import gzip
import itertools
import json
from pathlib import Path

import pytest

from sloserve.engine import synthetic_profile
from sloserve.sim import cluster, prefix_workloads, records, settings, simulator, trace_files


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_mooncake_trace_is_read_with_its_block_ids_and_seconds(tmp_path):
    rows = [
        {"timestamp": 1500, "input_length": 1100, "output_length": 20, "hash_ids": [0, 1, 2]},
        {"timestamp": 500, "input_length": 600, "output_length": 5, "hash_ids": [0, 7]},
    ]
    path = tmp_path / "trace.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(json.dumps(row) for row in rows))
    entries = trace_files.read_trace(path)
    assert [e.offset_s for e in entries] == [0.0, 1.0]
    assert entries[1].prefix_ids == (0, 1, 2)
    assert entries[1].prefix_block_tokens == 512


def test_the_generic_jsonl_carries_class_session_and_prefix_granularity(tmp_path):
    path = _write(
        tmp_path / "mine.jsonl",
        [
            json.dumps(
                {
                    "arrival_s": 2.0,
                    "prompt_tokens": 300,
                    "output_tokens": 9,
                    "prefix_ids": [4, 5],
                    "prefix_block_tokens": 128,
                    "class": "interactive",
                    "session": "chat-1",
                }
            ),
            json.dumps({"arrival_s": 0.5, "prompt_tokens": 10, "output_tokens": 1}),
        ],
    )
    entries = trace_files.read_trace(path)
    assert entries[1].slo_class == "interactive"
    assert entries[1].session == "chat-1"
    assert entries[1].prefix_block_tokens == 128
    assert entries[1].offset_s == 1.5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ('{"arrival_s": 1, "prompt_tokens": 5}', "line 2: field 'output_tokens' is missing"),
        (
            '{"arrival_s": 1, "prompt_tokens": 0, "output_tokens": 1}',
            "line 2: field 'prompt_tokens'",
        ),
        ('{"arrival_s": 1, "prompt_tokens": 2.5, "output_tokens": 1}', "whole number"),
        ('{"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 1, "colour": 1}', "unknown field"),
        ('{"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 1, "prefix_ids": "x"}', "integers"),
        ("[1, 2]", "line 2: must be a JSON object"),
    ],
)
def test_a_malformed_jsonl_line_is_named_by_its_number(tmp_path, line, message):
    good = json.dumps({"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 1})
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(ValueError, match=message):
        trace_files.read_trace(path)


def test_a_malformed_mooncake_line_is_named_by_its_number(tmp_path):
    good = json.dumps({"timestamp": 0, "input_length": 5, "output_length": 1, "hash_ids": [1]})
    bad = json.dumps({"timestamp": 3, "input_length": -4, "output_length": 1, "hash_ids": [1]})
    path = _write(tmp_path / "bad.jsonl", [good, good, bad])
    with pytest.raises(ValueError, match="line 3: field 'input_length'"):
        trace_files.read_trace(path)


def test_a_malformed_azure_row_is_named_by_its_line(tmp_path):
    path = _write(
        tmp_path / "azure.csv",
        [
            "TIMESTAMP,ContextTokens,GeneratedTokens",
            "2023-11-11 00:00:00.0000000,100,10",
            "2023-11-11 00:00:01.0000000,many,10",
        ],
    )
    with pytest.raises(ValueError, match="line 3: column ContextTokens"):
        trace_files.read_trace(path)


def test_classes_follow_tenants_and_time_scale_compresses_arrivals():
    entries = [
        trace_files.TraceEntry(offset_s=float(i), prompt_tokens=600, output_tokens=4,
                               prefix_ids=(0, i % 3, 9))
        for i in range(30)
    ]  # fmt: skip
    requests = prefix_workloads.from_trace(entries, time_scale=0.5, max_requests=10)
    assert len(requests) == 10
    assert requests[-1].arrival_s == 4.5
    by_tenant: dict[int, set[str]] = {}
    for entry, request in zip(entries, requests, strict=False):
        by_tenant.setdefault(entry.prefix_ids[1], set()).add(request.slo_class.name)
    assert all(len(names) == 1 for names in by_tenant.values())


def test_multi_turn_sessions_resend_their_history():
    requests = prefix_workloads.MultiTurnSessions(sessions=3, turns=3, seed=1).build()
    by_session: dict[str | None, list] = {}
    for request in requests:
        by_session.setdefault(request.session_id, []).append(request)
    for turns in by_session.values():
        turns.sort(key=lambda r: r.arrival_s)
        for earlier, later in itertools.pairwise(turns):
            assert later.prefix_ids[: len(earlier.prefix_ids)] == earlier.prefix_ids
            assert later.prompt_tokens > earlier.prompt_tokens


def test_shared_system_prompts_start_alike_within_a_tenant():
    requests = prefix_workloads.SharedSystemPrompts(count=40, tenants=2, seed=3).build()
    starts = {request.prefix_ids[:32] for request in requests}
    assert len(starts) == 2


def test_a_request_longer_than_the_context_is_rejected_and_the_run_goes_on():
    requests = prefix_workloads.SharedSystemPrompts(
        count=20, tenants=2, system_tokens=256, user_tokens_mean=64, output_tokens_mean=8
    ).build()
    too_long = requests[5].__class__(**{**requests[5].__dict__, "prompt_tokens": 5000})
    requests[5] = too_long
    config = settings.SimulationConfig(
        policy="scorpio-prefix",
        profile=synthetic_profile.build(),
        engines=2,
        engine_settings=cluster.EngineSettings(max_model_len=4096, num_gpu_blocks=2048),
    )
    result = simulator.simulate(requests, config)
    rejected = [r for r in result.records if r.outcome is records.Outcome.REJECTED]
    assert [r.request_id for r in rejected] == [too_long.request_id]
    assert rejected[0].reject_reason == "prompt_too_long"
    served = [r for r in result.records if r.outcome is records.Outcome.SERVED]
    assert len(served) == 19
    assert sum(r.cached_tokens for r in served) > 0


def test_sim_run_replays_a_trace_file_and_counts_the_over_long(tmp_path):
    from click.testing import CliRunner

    from sloserve.cli import sim as sim_command

    path = _write(
        tmp_path / "t.jsonl",
        [
            json.dumps({"arrival_s": 0, "prompt_tokens": 600, "output_tokens": 4,
                        "prefix_ids": [1, 2], "class": "interactive"}),
            json.dumps({"arrival_s": 1, "prompt_tokens": 900, "output_tokens": 4,
                        "prefix_ids": [1, 2], "class": "interactive"}),
            json.dumps({"arrival_s": 2, "prompt_tokens": 9000, "output_tokens": 4}),
        ],
    )  # fmt: skip
    result = CliRunner().invoke(
        sim_command.sim,
        ["run", "--trace", str(path), "--policy", "scorpio-prefix", "--profile", "synthetic",
         "--num-gpu-blocks-override", "4096", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["requests"] == 3
    assert document["summary"]["overall"]["rejected"] == 1
