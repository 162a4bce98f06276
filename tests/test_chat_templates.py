"""Golden tests: our rendering of real models' chat templates equals the reference renderers.

Each template below is the model's own Jinja text (Qwen2.5 from the Qwen2.5-Coder GGUF's
`tokenizer.chat_template`; the others as their GGUFs and llama.cpp's `models/templates` carry
them). Where llama.cpp's C++ `llama_chat_apply_template` knows the template we must match it
exactly; otherwise we match transformers' `apply_chat_template` rendering (`_transformers_render`,
plain Jinja2 with the variables transformers passes). Renders go through `ModelManager.render`,
the code path answers take, so system-role folding is covered too. llama.cpp's built-in formats
leave BOS to the tokenizer, so those comparisons use an empty `bos_token`.
"""

from __future__ import annotations

import ctypes
import json
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
import jinja2.sandbox
import llama_cpp
import pytest

from desktop.engine.core.errors import ModelLoadFailed
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.chat_format import ChatFormat, TemplateRaised, from_metadata
from desktop.engine.runtime.model_manager import ModelManager

# Qwen2.5 instruct (and Qwen2.5-Coder-0.5B-Instruct's GGUF): the template that uses `tools`.
QWEN25 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# Llama 3 (Meta-Llama-3-8B-Instruct).
LLAMA3 = r"{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"

# Llama 3.1 / 3.2 / 3.3 instruct (this text: Llama-3.2-3B-Instruct): a dated system header.
LLAMA32 = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# Gemma 2 (gemma-2-2b-it): refuses a system role.
GEMMA2 = r"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"

# Gemma 3 (gemma-3-*-it): folds the system prompt into the first user turn itself.
GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Phi-3-mini-4k-instruct (first release): silently drops a system message.
PHI3_MINI = r"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}"

# Phi-3.5-mini-instruct: a system turn of its own.
PHI35 = r"{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"

# Mistral-7B-Instruct-v0.1/v0.2: user and assistant only, refuses a system role.
MISTRAL_V1 = r"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"

# Mistral-Nemo-Instruct-2407 (the v3 family's shape): folds the system prompt into the LAST user turn.
MISTRAL_NEMO = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS][" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST]" + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST]" + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif (message.tool_calls is defined and message.tool_calls is not none) %}
        {{- "[TOOL_CALLS][" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- message["content"] + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS]{"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

SYSTEM = {"role": "system", "content": "You answer from the handbook."}
HISTORY = [
    {"role": "user", "content": "How do I request leave?"},
    {"role": "assistant", "content": "Use the leave form [1]."},
    {"role": "user", "content": "And sick leave? Émoji 🙂 and <tags>."},
]
CONVERSATIONS = {
    "system+history": [SYSTEM, *HISTORY],
    "system+question": [SYSTEM, HISTORY[0]],
    "history": HISTORY,
}
TODAY = datetime(2024, 7, 26, 9, 30)

# name: (template, bos, eos, folds the system prompt into the first user turn ourselves)
TEMPLATES: dict[str, tuple[str, str, str, bool]] = {
    "qwen2.5": (QWEN25, "", "<|im_end|>", False),
    "llama3": (LLAMA3, "<|begin_of_text|>", "<|eot_id|>", False),
    "llama3.2": (LLAMA32, "<|begin_of_text|>", "<|eot_id|>", False),
    "gemma2": (GEMMA2, "<bos>", "<eos>", True),
    "gemma3": (GEMMA3, "<bos>", "<eos>", False),
    "phi3-mini": (PHI3_MINI, "<s>", "<|endoftext|>", True),
    "phi3.5": (PHI35, "<s>", "<|endoftext|>", False),
    "mistral-v1": (MISTRAL_V1, "<s>", "</s>", True),
    "mistral-nemo": (MISTRAL_NEMO, "<s>", "</s>", False),
}

# (template, conversation) pairs llama.cpp's C++ formatter renders as the template does. Left out,
# with the reason: Qwen without a system message (the template adds Qwen's default one), Llama 3.2
# (llama.cpp has no dated system header), Phi-3-mini and Mistral v1 with a system message (llama.cpp
# keeps a <|system|> turn / joins with one newline where we fold with a blank line), Mistral Nemo
# with history (llama.cpp puts the system prompt in the first user turn, the template in the last).
LLAMA_CPP_CASES = [
    ("qwen2.5", "system+history"),
    ("qwen2.5", "system+question"),
    ("llama3", "system+history"),
    ("llama3", "history"),
    ("gemma2", "system+history"),
    ("gemma2", "history"),
    ("gemma3", "system+history"),
    ("gemma3", "history"),
    ("phi3-mini", "history"),
    ("phi3.5", "system+history"),
    ("phi3.5", "history"),
    ("mistral-v1", "history"),
    ("mistral-nemo", "system+question"),
    ("mistral-nemo", "history"),
]


def _format(name: str, *, bos: str | None = None) -> ChatFormat:
    template, default_bos, eos, _ = TEMPLATES[name]
    return ChatFormat(
        template, bos_token=default_bos if bos is None else bos, eos_token=eos, clock=lambda: TODAY
    )


def _ours(fmt: ChatFormat, messages: list[dict[str, str]]) -> str:
    """What an answer's prompt is: `ModelManager.render` (system folding included) on `fmt`."""
    manager = ModelManager()
    manager._format = fmt  # no model needed: rendering only reads the format
    return manager.render(messages)


def _llama_cpp_render(template: str, messages: list[dict[str, str]]) -> str:
    """llama.cpp's own C++ chat-template engine (`llama_chat_apply_template`)."""
    array = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(m["role"].encode(), m["content"].encode()) for m in messages]
    )
    buffer = ctypes.create_string_buffer(16384)
    n = llama_cpp.llama_chat_apply_template(
        template.encode(), array, len(messages), True, buffer, 16384
    )
    assert n > 0, "llama.cpp does not know this template"
    return buffer.raw[:n].decode("utf-8")


def _transformers_render(template: str, messages: list[dict[str, str]], bos: str, eos: str) -> str:
    """transformers' `apply_chat_template` rendering: a sandbox, lenient undefined values, the
    variables it passes (`tools` and `documents` None, special tokens), `strftime_now`,
    `raise_exception` and its own `tojson`."""

    def raise_exception(message: str) -> Any:
        raise jinja2.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, **kw: Any) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = TODAY.strftime
    return env.from_string(template).render(
        messages=messages,
        tools=None,
        documents=None,
        add_generation_prompt=True,
        bos_token=bos,
        eos_token=eos,
    )


def _folded(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The expected fold: the system prompt, a blank line, then the first user message."""
    system, first, *rest = messages
    assert system["role"] == "system" and first["role"] == "user"
    return [{"role": "user", "content": system["content"] + "\n\n" + first["content"]}, *rest]


@pytest.mark.parametrize(("name", "conversation"), LLAMA_CPP_CASES)
def test_rendering_matches_llama_cpp(name: str, conversation: str) -> None:
    messages = CONVERSATIONS[conversation]
    ours = _ours(_format(name, bos=""), messages)
    assert ours == _llama_cpp_render(TEMPLATES[name][0], messages)


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_rendering_matches_transformers(name: str, conversation: str) -> None:
    template, bos, eos, folds = TEMPLATES[name]
    messages = CONVERSATIONS[conversation]
    ours = _ours(_format(name), messages)
    expected_input = _folded(messages) if folds and messages[0]["role"] == "system" else messages
    assert ours == _transformers_render(template, expected_input, bos, eos)


@pytest.mark.parametrize(("name", "folds"), [(n, t[3]) for n, t in TEMPLATES.items()])
def test_system_role_merging_is_decided_by_the_template(name: str, folds: bool) -> None:
    """Fold when the template refuses a system role (Gemma 2, Mistral v1) or drops it (Phi-3-mini);
    never when it has one (Qwen, Llama, Phi-3.5) or folds it itself (Gemma 3, Mistral Nemo)."""
    fmt = _format(name)
    assert fmt.merges_system_role() is folds
    assert SYSTEM["content"] in _ours(fmt, CONVERSATIONS["system+history"])


def test_qwen_template_uses_tools_and_renders_with_history() -> None:
    """The crash of issue 10: Qwen's own template reads `tools` and `message.tool_calls`."""
    fmt = from_metadata(
        {"tokenizer.chat_template": QWEN25}, {"bos_token": "", "eos_token": "<|im_end|>"}
    )
    assert not fmt.merges_system_role()
    assert _ours(fmt, CONVERSATIONS["system+history"]) == (
        "<|im_start|>system\nYou answer from the handbook.<|im_end|>\n"
        "<|im_start|>user\nHow do I request leave?<|im_end|>\n"
        "<|im_start|>assistant\nUse the leave form [1].<|im_end|>\n"
        "<|im_start|>user\nAnd sick leave? Émoji 🙂 and <tags>.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert fmt.render(HISTORY[:1]).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud."
    )


def test_gemma2_gets_the_system_prompt_in_its_first_user_turn() -> None:
    assert _ours(_format("gemma2"), CONVERSATIONS["system+history"]) == (
        "<bos><start_of_turn>user\nYou answer from the handbook.\n\nHow do I request leave?"
        "<end_of_turn>\n<start_of_turn>model\nUse the leave form [1].<end_of_turn>\n"
        "<start_of_turn>user\nAnd sick leave? Émoji 🙂 and <tags>.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_mistral_nemo_folds_the_system_prompt_into_the_last_user_turn() -> None:
    assert _ours(_format("mistral-nemo"), CONVERSATIONS["system+history"]) == (
        "<s>[INST]How do I request leave?[/INST]Use the leave form [1].</s>"
        "[INST]You answer from the handbook.\n\nAnd sick leave? Émoji 🙂 and <tags>.[/INST]"
    )


def test_llama32_system_header_carries_date_string() -> None:
    rendered = _ours(_format("llama3.2"), CONVERSATIONS["system+question"])
    assert rendered.startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
        "You answer from the handbook.<|eot_id|>"
    )


def test_the_usual_variables_are_defined() -> None:
    fmt = ChatFormat(
        "{{ tools is none }} {{ documents is none }} {{ date_string }} {{ strftime_now('%Y') }} "
        "{{ bos_token }}{{ eos_token }} {{ add_generation_prompt }} {{ messages[0].name }}|"
        "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% break %}"
        "{% endfor %} {{ {'k': 'é'} | tojson }}",
        bos_token="<s>",
        eos_token="</s>",
        clock=lambda: TODAY,
    )
    assert fmt.render([{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]) == (
        'True True 26 Jul 2024 2024 <s></s> True |hi {"k": "é"}'
    )


def test_an_unknown_variable_is_refused_when_the_model_loads() -> None:
    template = "{% if enable_magic %}magic{% endif %}{{ messages[0]['content'] }}"
    with pytest.raises(ModelLoadFailed, match="'enable_magic' is undefined"):
        from_metadata({"tokenizer.chat_template": template}, {})
    with pytest.raises(ModelLoadFailed, match="cannot be rendered"):
        from_metadata({"tokenizer.chat_template": "{% if %}"}, {})


def test_a_sandbox_refusal_is_an_error_not_an_empty_value() -> None:
    with pytest.raises(jinja2.exceptions.SecurityError):
        ChatFormat("{{ messages.__class__ }}").render([])


def test_template_refusals_other_than_the_system_role_still_raise() -> None:
    fmt = _format("gemma2")
    with pytest.raises(TemplateRaised, match="alternate"):
        fmt.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


@pytest.mark.parametrize("model_id", ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"])
def test_installed_qwen_gguf_template_matches_llama_cpp(model_id: str) -> None:
    """The real GGUF's template, when that on-demand model has been fetched (skipped otherwise)."""
    gguf = pytest.importorskip("gguf")
    entry = Catalog.load().get(model_id)
    if not entry.path.exists():
        pytest.skip(f"{model_id} is not fetched (enclave models fetch --id {model_id})")
    field = gguf.GGUFReader(entry.path).fields["tokenizer.chat_template"]
    template = field.contents()
    fmt = from_metadata({"tokenizer.chat_template": template}, {"eos_token": "<|im_end|>"})
    messages = CONVERSATIONS["system+history"]
    assert _ours(fmt, messages) == _llama_cpp_render(template, messages)
    assert "tools" in template and not fmt.merges_system_role()
