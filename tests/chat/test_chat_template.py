"""Golden renderings of the Step-Audio-R1 chat template (format reference §4.2–4.4)."""

import json

import pytest

from mgrd.chat import render, render_segments

A = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
TOOLS = [{"type": "function", "function": {"name": "f"}}]


def text(t):
    return {"type": "text", "text": t}


# --- §4.2 rows ----------------------------------------------------------------------------------

def test_row_mc_prompt_continue_final_message():
    msgs = [{"role": "human", "content": "Q?\nA. x\n" + "\n" + "<audio_patch>"},
            {"role": "assistant", "content": "<think>\n"}]
    assert render(msgs, add_generation_prompt=False) == \
        "<|BOT|>human\nQ?\nA. x\n\n<audio_patch><|EOT|><|BOT|>assistant\n<think>\n"


def test_row_system_two_audio_chunks_then_text():
    msgs = [{"role": "system", "content": "SYS"},
            {"role": "user", "content": "<audio_patch>\n<audio_patch>\nTEXT"}]
    assert render(msgs) == ("<|BOT|>system\nSYS<|EOT|><|BOT|>human\n<audio_patch><audio_patch>TEXT<|EOT|>"
                            "<|BOT|>assistant\n<think>\n")


def test_row_multi_turn_past_assistant_turns_get_no_eot():
    msgs = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"}, {"role": "user", "content": "Q3"}]
    assert render(msgs) == ("<|BOT|>system\nSYS<|EOT|><|BOT|>human\nQ1<|EOT|><|BOT|>assistant\nA1"
                            "<|BOT|>human\nQ2<|EOT|><|BOT|>assistant\nA2<|BOT|>human\nQ3<|EOT|>"
                            "<|BOT|>assistant\n<think>\n")


def test_quirk_example_of_section_4_2():
    msgs = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    assert render(msgs) == ("<|BOT|>system\nSYS<|EOT|><|BOT|>human\nQ1<|EOT|><|BOT|>assistant\nA1"
                            "<|BOT|>human\nQ2<|EOT|><|BOT|>assistant\n<think>\n")


def test_row_tools_without_system_leaves_system_turn_open():
    assert render([{"role": "user", "content": "hi"}], tools=TOOLS) == \
        ('<|BOT|>system\n<|BOT|>tool_json_schemas\n[{"type": "function", "function": {"name": "f"}}]<|EOT|>'
         "<|BOT|>human\nhi<|EOT|><|BOT|>assistant\n<think>\n")


def test_row_list_content_template_format():
    msgs = [{"role": "user", "content": [text("T"), {"type": "audio"}]}]
    assert render(msgs, content_format="template") == "<|BOT|>human\nT<audio_patch><|EOT|><|BOT|>assistant\n<think>\n"


# --- server flattening (§4.3) -----------------------------------------------------------------

@pytest.mark.parametrize("parts, body", [
    ([text("T"), {"type": "audio"}], "T\n<audio_patch>"),                      # the §4.2 row, server-side
    ([text("T"), A, A], "T\n<audio_patch><audio_patch>"),                        # audio after text
    ([A, A, text("TEXT")], "<audio_patch><audio_patch>TEXT"),                    # audio before text
    ([text("T1"), A, text("T2")], "T1\n<audio_patch>T2"),                        # audio between texts
    ([{"type": "audio_url", "audio_url": {"url": "x.wav"}}, text("T")], "<audio_patch>T"),
    ([{"type": "audio", "audio": "clip.wav"}, {"type": "text", "value": "V"}], "<audio_patch>V"),
    ([text("a"), text("b")], "a\nb"),
])
def test_server_flattening(parts, body):
    assert render([{"role": "user", "content": parts}]) == \
        f"<|BOT|>human\n{body}<|EOT|><|BOT|>assistant\n<think>\n"


@pytest.mark.parametrize("parts, body", [
    ([A, A, text("TEXT")], "<audio_patch><audio_patch>TEXT"),
    ([text("T1"), {"type": "audio"}, text("T2")], "T1<audio_patch>T2"),
])
def test_template_format_concatenates(parts, body):
    parts = [{"type": "audio"} if p is A else p for p in parts]
    assert render([{"role": "user", "content": parts}], content_format="template") == \
        f"<|BOT|>human\n{body}<|EOT|><|BOT|>assistant\n<think>\n"


def test_mmau_style_mc_prompt_official_request_shape():
    question = ("Which best describes the speaker?\nA. Shouting\nB. Singing\nC. Laughing\n"
                "D. Whispering\n")
    msgs = [{"role": "human", "content": [text(question), A]},
            {"role": "assistant", "content": "<think>\n", "eot": False}]
    expected = ("<|BOT|>human\nWhich best describes the speaker?\nA. Shouting\nB. Singing\nC. Laughing\n"
                "D. Whispering\n\n<audio_patch><|EOT|><|BOT|>assistant\n<think>\n")
    assert render(msgs) == expected  # eot False: open, no generation prompt despite the default
    msgs[1] = {"role": "assistant", "content": "<think>\n"}
    assert render(msgs, continue_final_message=True) == expected
    assert render(msgs, continue_final_message=True, add_generation_prompt=False) == expected


def test_final_assistant_with_none_is_dropped_and_prompt_added():
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]
    assert render(msgs, add_generation_prompt=False) == "<|BOT|>human\nhi<|EOT|><|BOT|>assistant\n<think>\n"


def test_final_assistant_with_eot_renders_as_template_does():
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert render(msgs) == "<|BOT|>human\nhi<|EOT|><|BOT|>assistant\nyo<|BOT|>assistant\n<think>\n"
    assert render(msgs, add_generation_prompt=False) == "<|BOT|>human\nhi<|EOT|><|BOT|>assistant\nyo"


# --- system, tools and roles ---------------------------------------------------------------------

def test_tools_with_system():
    msgs = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "hi"}]
    assert render(msgs, tools=TOOLS, add_generation_prompt=False) == \
        ('<|BOT|>system\nSYS<|EOT|><|BOT|>tool_json_schemas\n[{"type": "function", "function": {"name": "f"}}]'
         "<|EOT|><|BOT|>human\nhi<|EOT|>")


def test_tools_json_keeps_non_ascii_and_empty_tools_are_no_tools():
    tools = [{"name": "météo", "description": "天气"}]
    out = render([{"role": "user", "content": "hi"}], tools=tools, add_generation_prompt=False)
    assert out == ('<|BOT|>system\n<|BOT|>tool_json_schemas\n[{"name": "météo", "description": "天气"}]<|EOT|>'
                   "<|BOT|>human\nhi<|EOT|>")
    assert render([{"role": "user", "content": "hi"}], tools=[], add_generation_prompt=False) == \
        "<|BOT|>human\nhi<|EOT|>"


def test_roles_user_human_unknown_function_output_and_late_system():
    msgs = [{"role": "user", "content": "a"}, {"role": "human", "content": "b"},
            {"role": "function_output", "content": "ignored"}, {"role": "tool", "content": "t"},
            {"role": "system", "content": "late"}, {"role": "assistant", "content": ""},
            {"role": "assistant", "content": None}, {"role": "user", "content": None}]
    assert render(msgs, add_generation_prompt=False) == (
        "<|BOT|>human\na<|EOT|><|BOT|>human\nb<|EOT|><|BOT|>tool\nt<|EOT|><|BOT|>system\nlate<|EOT|>"
        "<|BOT|>assistant\n<|BOT|>assistant\n<|BOT|>human\n<|EOT|>")


def test_dict_content_value_then_text_without_newline_removal():
    msgs = [{"role": "user", "content": {"value": "V", "text": "T"}},
            {"role": "user", "content": {"text": "<audio_patch>\nT"}}]
    assert render(msgs, add_generation_prompt=False) == \
        "<|BOT|>human\nV<|EOT|><|BOT|>human\n<audio_patch>\nT<|EOT|>"


# --- segments -------------------------------------------------------------------------------------

def test_segments_mark_assistant_content_and_audio_parts_in_prompt_order():
    msgs = [{"role": "system", "content": "S<audio_patch>"},
            {"role": "user", "content": [text("q"), A, text("r"), A]},
            {"role": "assistant", "content": "ans"},
            {"role": "function_output", "content": [A]},
            {"role": "user", "content": "<audio_patch>\n<audio_patch>"}]
    segs = render_segments(msgs, tools=TOOLS)
    assert "".join(s.text for s in segs) == render(msgs, tools=TOOLS)
    assert [s.text for s in segs if s.trainable] == ["ans"]
    assert [a for s in segs for a in s.audio_parts] == [(0, 0), (1, 1), (1, 3), (4, 0), (4, 1)]
    assert all(s.text.count("<audio_patch>") == len(s.audio_parts) for s in segs)


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("messages, match", [
    ([], "empty"),
    ("hi", "list of dicts"),
    (["hi"], "message 0 must be a dict"),
    ([{"content": "x"}], "message 0 has no 'role'"),
    ([{"role": "user", "content": "x"}, {"role": "user", "content": [text("a"), {"type": "image"}]}],
     r"message 1, part 1: .*input_audio, audio_url, audio.*'image'"),
    ([{"role": "user", "content": [text("a"), None]}], r"message 0, part 1: .*got NoneType"),
    ([{"role": "user", "content": [{"type": "text", "text": 3}]}], r"message 0, part 0: .*string 'text'"),
    ([{"role": "user", "content": [text("x<audio_patch>")]}], r"message 0, part 0: text may not contain"),
    ([{"role": "user", "content": 5}], "message 0: content must be"),
    ([{"role": "user", "content": {"foo": 1}}], "message 0: dict content"),
])
def test_bad_messages_raise(messages, match):
    with pytest.raises(ValueError, match=match):
        render(messages)


def test_template_format_rejects_input_audio_rather_than_dropping_it():
    with pytest.raises(ValueError, match=r"message 0, part 1: .*content_format='template'"):
        render([{"role": "user", "content": [text("T"), A]}], content_format="template")


def test_bad_options_raise():
    with pytest.raises(ValueError, match="content_format"):
        render([{"role": "user", "content": "x"}], content_format="openai")
    with pytest.raises(ValueError, match="last message to be an assistant"):
        render([{"role": "user", "content": "x"}], continue_final_message=True)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        render([{"role": "user", "content": "x"}], tools=[object()])
    with pytest.raises(ValueError, match="only an assistant message"):
        render([{"role": "assistant", "content": None}])


# --- oracle: the released template itself, rendered with Jinja2 as transformers does ---------------

# Verbatim from the R1 README's `--chat-template` (see the format reference, §0 and §4).
R1_TEMPLATE = (
    "{%- macro render_content(content) -%}{%- if content is string -%}{{- content.replace(\"<audio_patch>\\n\", "
    "\"<audio_patch>\") -}}{%- elif content is mapping -%}{{- content['value'] if 'value' in content else "
    "content['text'] -}}{%- elif content is iterable -%}{%- for item in content -%}{%- if item.type == 'text' -%}"
    "{{- item['value'] if 'value' in item else item['text'] -}}{%- elif item.type == 'audio' -%}<audio_patch>"
    "{%- endif -%}{%- endfor -%}{%- endif -%}{%- endmacro -%}{%- if tools -%}{{- '<|BOT|>system\\n' -}}"
    "{%- if messages[0]['role'] == 'system' -%}{{- render_content(messages[0]['content']) + '<|EOT|>' -}}"
    "{%- endif -%}{{- '<|BOT|>tool_json_schemas\\n' + tools|tojson + '<|EOT|>' -}}{%- else -%}"
    "{%- if messages[0]['role'] == 'system' -%}{{- '<|BOT|>system\\n' + render_content(messages[0]['content']) "
    "+ '<|EOT|>' -}}{%- endif -%}{%- endif -%}{%- for message in messages -%}{%- if message[\"role\"] == "
    "\"user\" -%}{{- '<|BOT|>human\\n' + render_content(message[\"content\"]) + '<|EOT|>' -}}{%- elif "
    "message[\"role\"] == \"assistant\" -%}{{- '<|BOT|>assistant\\n' + (render_content(message[\"content\"]) "
    "if message[\"content\"] else '') -}}{%- set is_last_assistant = true -%}{%- for m in "
    "messages[loop.index:] -%}{%- if m[\"role\"] == \"assistant\" -%}{%- set is_last_assistant = false -%}"
    "{%- endif -%}{%- endfor -%}{%- if not is_last_assistant -%}{{- '<|EOT|>' -}}{%- endif -%}{%- elif "
    "message[\"role\"] == \"function_output\" -%}{%- else -%}{%- if not (loop.first and message[\"role\"] == "
    "\"system\") -%}{{- '<|BOT|>' + message[\"role\"] + '\\n' + render_content(message[\"content\"]) + "
    "'<|EOT|>' -}}{%- endif -%}{%- endif -%}{%- endfor -%}{%- if add_generation_prompt -%}"
    "{{- '<|BOT|>assistant\\n<think>\\n' -}}{%- endif -%}"
)

ORACLE_CASES = [
    ([{"role": "system", "content": "SYS"}, {"role": "user", "content": "<audio_patch>\nQ"},
      {"role": "assistant", "content": "A1"}, {"role": "human", "content": "Q2"},
      {"role": "assistant", "content": "A2"}, {"role": "tool", "content": "T"},
      {"role": "function_output", "content": "F"}, {"role": "user", "content": "Q3"}], None, True),
    ([{"role": "user", "content": "hi"}], TOOLS, True),
    ([{"role": "system", "content": {"value": "S"}}, {"role": "user", "content": "hi"}], TOOLS, False),
    ([{"role": "user", "content": [text("T"), {"type": "audio"}, {"type": "text", "value": "V"}]},
      {"role": "assistant", "content": ""}], None, False),
]


@pytest.mark.parametrize("messages, tools, gen", ORACLE_CASES)
def test_matches_the_released_template_rendered_by_jinja(messages, tools, gen):
    sandbox = pytest.importorskip("jinja2.sandbox")
    env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False)
    oracle = env.from_string(R1_TEMPLATE).render(messages=messages, tools=tools, add_generation_prompt=gen)
    assert render(messages, tools=tools, add_generation_prompt=gen, content_format="template") == oracle
