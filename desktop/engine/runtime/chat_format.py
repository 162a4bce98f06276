"""Turn a conversation into the exact prompt text the model was trained on.

The model's own GGUF chat template (`tokenizer.chat_template`) is the source of truth, rendered with
Jinja2 in a sandbox like llama.cpp and transformers do. Models without one get a template from the
small registry below, chosen by an explicit setting, or ChatML as the last resort.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox

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


@dataclass(frozen=True)
class ChatFormat:
    """A compiled chat template and the special tokens it refers to."""

    template: str
    bos_token: str = ""
    eos_token: str = ""
    name: str = "gguf"

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
        )
        env.globals["raise_exception"] = _raise_exception
        compiled = env.from_string(self.template)
        return compiled.render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )

    def merges_system_role(self) -> bool:
        """Templates that reject a system role need the system prompt folded into the user turn."""
        try:
            self.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        except jinja2.TemplateError:
            return True
        return False


def _raise_exception(message: str) -> Any:
    raise jinja2.TemplateError(message)


def from_metadata(
    metadata: Mapping[str, str], token_text: Mapping[str, str], override: str | None = None
) -> ChatFormat:
    """Pick the chat format: an explicit registry override, the GGUF's template, or ChatML."""
    if override:
        if override not in REGISTRY:
            raise ValueError(f"unknown chat format '{override}'; known: {', '.join(REGISTRY)}")
        return ChatFormat(REGISTRY[override], name=override, **token_text)
    template = metadata.get("tokenizer.chat_template")
    if template:
        return ChatFormat(template, name="gguf", **token_text)
    return ChatFormat(CHATML, name="chatml (fallback)", **token_text)
