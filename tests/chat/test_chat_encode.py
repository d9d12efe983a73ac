"""Conversation encoding: exact ids, audio expansion and the loss mask."""

import pytest

from mgrd.chat import encode, encode_prompt, render, train_tokenizer

# A character-level tokenizer, so that every id below can be worked out by hand:
# specials 0..5 (endoftext, BOT, EOT, audio_start, audio_end, audio_patch), "\n" 6, a..z 7..32,
# "<" 33, ">" 34, "/" 35, " " 36.
CHARS = "\nabcdefghijklmnopqrstuvwxyz<>/ "


@pytest.fixture(scope="module")
def ctok(char_tokenizer):
    return char_tokenizer(CHARS)


@pytest.fixture(scope="module")
def btok():
    corpus = ["<think>\nThe beep is high.\n</think>\nA", "how many beeps do you hear?", "assistant human system"] * 5
    return train_tokenizer(corpus, vocab_size=350)


def ids_of(s):
    return [CHARS.index(c) + 6 for c in s]


HUMAN = [1, 14, 27, 19, 7, 20, 6]                               # <|BOT|>human\n
ASSISTANT = [1, 7, 25, 25, 15, 25, 26, 7, 20, 26, 6]            # <|BOT|>assistant\n
THINK = [33, 26, 14, 15, 20, 17, 34]                            # <think>
CLOSE = [33, 35, 26, 14, 15, 20, 17, 34]                        # </think>


def test_hand_computed_ids_no_reasoning_answer(ctok):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "input_audio"}]},
            {"role": "assistant", "content": "b"}]
    enc = encode(msgs, [2], ctok)
    prompt = HUMAN + [7, 6] + [3, 5, 5, 4] + [2] + ASSISTANT + THINK + [6]
    target = [6] + CLOSE + [6, 8, 2]                            # "\n</think>\nb<|EOT|>"
    assert enc.input_ids == prompt + target
    assert enc.loss_mask == [0] * len(prompt) + [1] * len(target)
    assert enc.audio_parts == [(0, 1)]


def test_hand_computed_ids_with_reasoning(ctok):
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r\n</think>\nc"}]
    enc = encode(msgs, [], ctok)
    prompt = HUMAN + [23, 2] + ASSISTANT + THINK + [6]
    target = [24, 6] + CLOSE + [6, 9, 2]
    assert enc.input_ids == prompt + target
    assert enc.loss_mask == [0] * len(prompt) + [1] * len(target)


def test_think_prefix_belongs_to_the_prompt(ctok):
    plain = encode([{"role": "user", "content": "q"}, {"role": "assistant", "content": "r\n</think>\nc"}], [], ctok)
    prefixed = encode([{"role": "user", "content": "q"},
                       {"role": "assistant", "content": "<think>\nr\n</think>\nc"}], [], ctok)
    assert prefixed == plain
    empty_think = encode([{"role": "user", "content": "q"},
                          {"role": "assistant", "content": "<think>\n\n</think>\nc"}], [], ctok)
    no_think = encode([{"role": "user", "content": "q"}, {"role": "assistant", "content": "c"}], [], ctok)
    assert empty_think == no_think


def test_multi_turn_loss_on_every_assistant_turn(ctok):
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "x"}, {"role": "user", "content": "<audio_patch>\nr"},
            {"role": "assistant", "content": "y\n</think>\nz"}]
    enc = encode(msgs, [1], ctok)
    expected = ([1] + ids_of("system\ns") + [2] + HUMAN + [23, 2] + ASSISTANT + [30]
                + HUMAN + [3, 5, 4, 24, 2] + ASSISTANT + THINK + [6]
                + ids_of("y\n</think>\nz") + [2])
    assert enc.input_ids == expected
    trained = [i for i, m in zip(enc.input_ids, enc.loss_mask) if m]
    assert trained == [30] + ids_of("y\n</think>\nz") + [2]
    assert enc.loss_mask.index(1) == len([1] + ids_of("system\ns") + [2] + HUMAN + [23, 2] + ASSISTANT)
    assert enc.audio_parts == [(3, 0)]


def test_conversation_ending_in_user_trains_past_assistant_turns_only(ctok):
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "r"}]
    enc = encode(msgs, [], ctok)
    assert enc.input_ids == HUMAN + [23, 2] + ASSISTANT + [30] + HUMAN + [24, 2]
    assert enc.loss_mask == [0] * 20 + [1] + [0] * 9


def test_audio_parts_in_prompt_order_and_expansion(ctok):
    a = {"type": "input_audio"}
    msgs = [{"role": "system", "content": "<audio_patch>"},
            {"role": "user", "content": [a, {"type": "text", "text": "q"}, a]},
            {"role": "function_output", "content": [a]},
            {"role": "assistant", "content": "c"}]
    enc = encode(msgs, [1, 2, 3], ctok)
    assert enc.audio_parts == [(0, 0), (1, 0), (1, 2)]
    assert enc.input_ids[:12] == [1] + ids_of("system\n") + [3, 5, 4, 2]
    assert enc.input_ids[12:31] == HUMAN + [3, 5, 5, 4, 23, 6, 3, 5, 5, 5, 4, 2]  # "<audio_patch>q\n<audio_patch>"
    assert enc.input_ids.count(5) == 6 and enc.input_ids.count(3) == 3 and enc.input_ids.count(4) == 3
    assert all(m == 0 for i, m in zip(enc.input_ids, enc.loss_mask) if i in (3, 4, 5))


def test_audio_count_errors(ctok):
    msgs = [{"role": "user", "content": "<audio_patch><audio_patch>q"}, {"role": "assistant", "content": "c"}]
    with pytest.raises(ValueError, match=r"2 audio parts \[\(0, 0\), \(0, 1\)\] but 1 audio token counts"):
        encode(msgs, [3], ctok)
    with pytest.raises(ValueError, match="integers >= 1"):
        encode(msgs, [3, 0], ctok)
    with pytest.raises(ValueError, match="0 audio parts"):
        encode_prompt([{"role": "user", "content": "q"}], [1], ctok)


@pytest.mark.parametrize("final, match", [
    ({"role": "assistant", "content": "<think>\nnever closed"}, "never closes"),
    ({"role": "assistant", "content": "<think>r</think>c"}, "not followed by a newline"),
    ({"role": "assistant", "content": "c", "eot": False}, "eot=False"),
    ({"role": "assistant", "content": None}, "empty"),
    ({"role": "assistant", "content": ""}, "empty"),
    ({"role": "assistant", "content": [{"type": "input_audio"}]}, "may not hold audio"),
])
def test_bad_final_assistant_messages(ctok, final, match):
    with pytest.raises(ValueError, match=rf"message 1: .*{match}"):
        encode([{"role": "user", "content": "q"}, final], [], ctok)


def test_lone_assistant_message_raises(ctok):
    with pytest.raises(ValueError, match="lone assistant"):
        encode([{"role": "assistant", "content": "c"}], [], ctok)


def test_encode_prompt_hand_computed(ctok):
    msgs = [{"role": "human", "content": [{"type": "text", "text": "q"}, {"type": "input_audio"}]},
            {"role": "assistant", "content": "<think>\n", "eot": False}]
    enc = encode_prompt(msgs, [2], ctok)
    assert enc.input_ids == HUMAN + [23, 6, 3, 5, 5, 4, 2] + ASSISTANT + THINK + [6]
    assert enc.loss_mask == [0] * len(enc.input_ids)
    assert enc.audio_parts == [(0, 1)]
    no_gen = encode_prompt(msgs[:1], [2], ctok, add_generation_prompt=False)
    assert no_gen.input_ids == HUMAN + [23, 6, 3, 5, 5, 4, 2]


def expand(text, counts):
    pieces = text.split("<audio_patch>")
    out = pieces[0]
    for n, piece in zip(counts, pieces[1:]):
        out += "<audio_start>" + "<audio_patch>" * n + "<audio_end>" + piece
    return out


def test_bpe_decode_equals_rendered_text_with_audio_expanded(btok):
    msgs = [{"role": "system", "content": "You hear audio."},
            {"role": "user", "content": [{"type": "text", "text": "How many beeps do you hear?\n"},
                                         {"type": "input_audio"}, {"type": "input_audio"}]},
            {"role": "assistant", "content": "Three.\n</think>\n3"},
            {"role": "user", "content": "And now?"},
            {"role": "assistant", "content": "<think>\nThe beep is high.\n</think>\nA"}]
    counts = [4, 2]
    enc = encode(msgs, counts, btok)
    prompt = expand(render(msgs[:-1]), counts)
    target = "The beep is high.\n</think>\nA<|EOT|>"
    assert btok.decode(enc.input_ids) == prompt + target
    # prompt and target are tokenized apart, the prompt split only at the trained past turn
    n_target = len(btok.encode(target))
    assert enc.input_ids[-n_target:] == btok.encode(target) and enc.loss_mask[-n_target:] == [1] * n_target
    trained = btok.decode([i for i, m in zip(enc.input_ids, enc.loss_mask) if m])
    assert trained == "Three.\n</think>\n3" + target


def test_single_turn_training_prompt_equals_inference_prompt(btok):
    msgs = [{"role": "user", "content": [{"type": "input_audio"}, {"type": "text", "text": "how many beeps?"}]},
            {"role": "assistant", "content": "The beep is high.\n</think>\nA"}]
    train = encode(msgs, [3], btok)
    prompt = encode_prompt(msgs[:1], [3], btok)
    assert train.input_ids[:len(prompt.input_ids)] == prompt.input_ids
    assert train.loss_mask == [0] * len(prompt.input_ids) + [1] * (len(train.input_ids) - len(prompt.input_ids))
    assert prompt.input_ids == btok.encode(expand(render(msgs[:1]), [3]))
