"""`mgrd serve` as the generation backend of the pipeline's fixed-policy stages: self-distillation and
pass@k curation through the server (one or two replicas) give what the native engine gives, and a
server that serves another model is refused."""

from __future__ import annotations

import pytest

from mgrd.chat import Tokenizer
from mgrd.data.dataset import read_split
from mgrd.data.world import WorldConfig, generate_split
from mgrd.inference import Engine
from mgrd.model import load_pretrained
from mgrd.pipeline import data as D
from mgrd.pipeline.backends import EndpointMismatch, stage_backend
from mgrd.pipeline.recipe import EndpointSpec
from mgrd.serving import ServerSettings, create_app
from mgrd.tasks.world import WorldTask, record_item
from mgrd.training.curation import pass_counts
from mgrd.training.distill import apply_filters, default_filters, sample_chains

from .serving_support import LiveServer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_split(root, WorldConfig("heldout", 8, ("sound", "music"), seed=4), workers=1)
    return root, [r for r in read_split(root, "heldout") if r.audio][:4]


def _server(checkpoint_dir, name="tiny", root=None):
    tokenizer = Tokenizer.from_dir(checkpoint_dir)
    engine = Engine(load_pretrained(checkpoint_dir, tokenizer_special_ids=tokenizer.special), tokenizer)
    return LiveServer(create_app(engine, ServerSettings(model_name=name, model_root=str(root or checkpoint_dir))))


def _distil_and_curate(backend, task, world_root, records):
    chains, failures = sample_chains(backend, task, task.items(), samples=2, max_tokens=12, temperature=0.0)
    kept, _ = apply_filters(chains, default_filters(task, min_grounding=0.0))
    prompts = [(r.id, D.prompt_record(r, world_root)["messages"]) for r in records]
    counts = pass_counts(backend, prompts, lambda i, answer: float(answer.strip() == records[i].answer), k=2,
                         max_tokens=12, temperature=0.0)
    return ([(c.item.id, c.sample, c.reasoning, c.answer, c.well_formed) for c in chains], failures,
            [(c.item.id, c.sample) for c in kept], counts)


def test_distillation_and_curation_through_the_server_equal_the_native_engine(checkpoint_dir, world):
    root, records = world
    task = WorldTask([record_item(r, root) for r in records], name="distill")
    native = stage_backend(checkpoint_dir, None)
    expected = _distil_and_curate(native, task, root, records)
    assert expected[1] == [] and len(expected[0]) == 8 and len(expected[3]) == 4
    assert any(reasoning for _, _, reasoning, _, _ in expected[0])      # something was generated to compare
    with _server(checkpoint_dir) as one, _server(checkpoint_dir) as other:
        for urls in ([f"{one.url}/v1"], [f"{one.url}/v1", f"{other.url}/v1"]):
            backend = stage_backend(checkpoint_dir, EndpointSpec(urls=urls, shape="openai"))
            assert backend.identity()["kind"] == "endpoint" and backend.identity()["base_url"] == f"{one.url}/v1"
            try:
                assert _distil_and_curate(backend, task, root, records) == expected, urls
            finally:
                backend.close()


def test_a_server_of_another_model_or_name_is_refused(checkpoint_dir, tmp_path):
    elsewhere = tmp_path / "other-model"
    elsewhere.mkdir()
    with _server(checkpoint_dir, root=elsewhere) as live:
        spec = EndpointSpec(urls=[f"{live.url}/v1"])
        with pytest.raises(EndpointMismatch, match="start the server on that model"):
            stage_backend(checkpoint_dir, spec, key="iterations.distill.endpoint")
        unchecked = stage_backend(checkpoint_dir, EndpointSpec(urls=[f"{live.url}/v1"], check_model=False))
        assert unchecked.identity()["served_model"] == "tiny"
        with pytest.raises(EndpointMismatch, match=r"serves \['tiny'\], not 'big'"):
            stage_backend(checkpoint_dir, EndpointSpec(urls=[f"{live.url}/v1"], model="big", check_model=False))
    with pytest.raises(EndpointMismatch, match="could not list the models.*is the server running"):
        stage_backend(checkpoint_dir, EndpointSpec(urls=[f"{live.url}/v1"]))
    with pytest.raises(ValueError, match="api_key_env: the endpoint API key variable 'MGRD_TEST_UNSET_KEY' is not set"):
        stage_backend(checkpoint_dir, EndpointSpec(urls=["http://127.0.0.1:9/v1"], api_key_env="MGRD_TEST_UNSET_KEY"))
