"""Turn a conversation into the exact prompt text the model was trained on.

The model's own GGUF chat template (`tokenizer.chat_template`) is the source of truth, rendered with
Jinja2 in a sandbox the way transformers (`apply_chat_template`) and llama.cpp's Jinja engine do:
the same variables (`messages`, `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and
`documents` as None, `date_string`, `strftime_now`, `raise_exception`), the same `tojson`, `{% break %}`
and `{% generation %}`. Models without a template get one from the small registry below, chosen by
an explicit setting, or ChatML as the last resort.

Undefined values follow transformers for the fields of a value the template was given (a message
without `tool_calls` reads as empty and false), but a top-level name nobody provides stays an error
(`StrictUndefined`): such a template is checked when the model loads and refused with a clear
message, rather than silently rendering a prompt the model was not trained on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NoReturn

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox
from jinja2.utils import missing

from desktop.engine.core.errors import ModelLoadFailed

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

GEMMA = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

REGISTRY: dict[str, str] = {"chatml": CHATML, "llama3": LLAMA3, "gemma": GEMMA}

Message = Mapping[str, str]

_SYSTEM_PROBE = "enclave-system-probe"


class TemplateRaised(jinja2.TemplateError):
    """The template's own `raise_exception(...)`: it refuses this conversation (e.g. a system role)."""


class _TemplateUndefined(jinja2.Undefined):
    """Empty and false for a missing field of a given value (`message.tool_calls`), as in
    transformers; fails like `StrictUndefined` for an unknown top-level name, and for anything the
    sandbox refused (those carry a hint)."""

    __slots__ = ()

    def _strict(self) -> bool:
        return self._undefined_obj is missing or self._undefined_hint is not None

    def __bool__(self) -> bool:
        if self._strict():
            self._fail_with_undefined_error()
        return False

    def __str__(self) -> str:
        if self._strict():
            self._fail_with_undefined_error()
        return ""

    def __iter__(self) -> Iterator[Any]:
        if self._strict():
            self._fail_with_undefined_error()
        return iter(())

    def __len__(self) -> int:
        if self._strict():
            self._fail_with_undefined_error()
        return 0

    def __contains__(self, item: object) -> bool:
        if self._strict():
            self._fail_with_undefined_error()
        return False

    def __eq__(self, other: Any) -> bool:
        if self._strict():
            self._fail_with_undefined_error()
        return type(self) is type(other)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        if self._strict():
            self._fail_with_undefined_error()
        return id(type(self))


class _GenerationTag(jinja2.ext.Extension):
    """transformers' `{% generation %}...{% endgeneration %}` (marks assistant text for training
    masks); for inference only its body matters."""

    tags = {"generation"}  # noqa: RUF012 (jinja2 declares `tags` an instance attribute)

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_body")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _body(self, caller: Callable[[], str]) -> str:
        return caller()


def _raise_exception(message: str) -> NoReturn:
    raise TemplateRaised(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """transformers' `tojson`: plain JSON, not Jinja's HTML-escaped, key-sorted variant."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=_TemplateUndefined,
        extensions=[jinja2.ext.loopcontrols, _GenerationTag],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    return env


_ENV = _environment()


@dataclass(frozen=True)
class ChatFormat:
    """A compiled chat template and the special tokens it refers to."""

    template: str
    bos_token: str = ""
    eos_token: str = ""
    name: str = "gguf"
    clock: Callable[[], datetime] = field(default=datetime.now, repr=False, compare=False)

    @cached_property
    def _compiled(self) -> jinja2.Template:
        return _ENV.from_string(self.template)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        now = self.clock()
        return self._compiled.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            tools=None,
            documents=None,
            date_string=now.strftime("%d %b %Y"),
            strftime_now=now.strftime,
        )

    def merges_system_role(self) -> bool:
        """Templates that reject a system role, or silently drop it, need the system prompt folded
        into the user turn (it carries the sources). Only the template's own refusal counts: any
        other template error is a real error."""
        return self._merges_system_role

    @cached_property
    def _merges_system_role(self) -> bool:
        probe = [{"role": "system", "content": _SYSTEM_PROBE}, {"role": "user", "content": "u"}]
        try:
            rendered = self.render(probe)
        except TemplateRaised:
            return True
        return _SYSTEM_PROBE not in rendered

    def check(self) -> None:
        """Render a short conversation with history once, so a template that cannot be rendered
        fails when the model loads instead of at the first question."""
        conversation = [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
        ]
        try:
            if not self.merges_system_role():
                conversation.insert(0, {"role": "system", "content": "s"})
            self.render(conversation)
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise ModelLoadFailed(
                f"The model's chat template ({self.name}) cannot be rendered: {exc}.",
                "Ask your administrator for a build of this model whose chat template works "
                "with transformers or llama.cpp.",
            ) from None


def from_metadata(
    metadata: Mapping[str, str], token_text: Mapping[str, str], override: str | None = None
) -> ChatFormat:
    """Pick the chat format: an explicit registry override, the GGUF's template, or ChatML."""
    bos, eos = token_text.get("bos_token", ""), token_text.get("eos_token", "")
    if override:
        if override not in REGISTRY:
            raise ValueError(f"unknown chat format '{override}'; known: {', '.join(REGISTRY)}")
        return ChatFormat(REGISTRY[override], name=override, bos_token=bos, eos_token=eos)
    template = metadata.get("tokenizer.chat_template")
    if template:
        fmt = ChatFormat(template, name="gguf", bos_token=bos, eos_token=eos)
        fmt.check()
        return fmt
    return ChatFormat(CHATML, name="chatml (fallback)", bos_token=bos, eos_token=eos)
