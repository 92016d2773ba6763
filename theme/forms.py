"""Shared form styling: Tailwind classes and ARIA links to help text and errors on every widget."""

from __future__ import annotations

from django import forms


class StyledFormMixin:
    """Mix into a Form/ModelForm to give every widget the theme's classes and accessible attributes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, (forms.CheckboxInput, forms.RadioSelect, forms.CheckboxSelectMultiple)):
                continue
            widget.attrs["class"] = f"form-input {widget.attrs.get('class', '')}".strip()

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:  # type: ignore[attr-defined]
            if name in self.fields:  # type: ignore[attr-defined]
                bound = self[name]  # type: ignore[index]
                attrs = bound.field.widget.attrs
                attrs["aria-invalid"] = "true"
                # Error first so screen readers announce it before the (longer) help text.
                described = [f"{bound.auto_id}_error"]
                if bound.help_text:
                    described.append(f"{bound.auto_id}_helptext")
                attrs["aria-describedby"] = " ".join(described)
