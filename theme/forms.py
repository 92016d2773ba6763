"""Shared form pieces: Tailwind classes and ARIA links on every widget, and a decimal field for Belgian input."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext


class StyledFormMixin:
    """Mix into a Form/ModelForm to give every widget the theme's classes and accessible attributes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
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


# One decimal separator, a comma or a dot; an optional sign so that "-1" reaches the min-value check and gets
# its own message. No exponents ("1e3"), no NaN/Infinity and no thousands separators: a meter display and a tariff
# sheet show neither, and "1.019,100" could be read two ways.
_DECIMAL_INPUT = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")


class DecimalCommaField(forms.DecimalField):
    """A ``DecimalField`` that also accepts a decimal comma (``1019,100``), as Belgians write numbers.

    Rendered as a text input with ``inputmode="decimal"``: many browsers refuse a comma in ``type=number`` and
    submit an empty value instead, and a phone then shows its decimal keypad anyway. ``example`` (written with a
    comma) appears in the error for an entry that is not a number, beside its dot form.
    """

    widget = forms.TextInput

    def __init__(self, *args: Any, example: str = "1019,100", **kwargs: Any) -> None:
        self.example = example
        super().__init__(*args, **kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("autocomplete", "off")

    # Django's DecimalField subclasses IntegerField, whose to_python the stubs type as int | None; the stubs ignore
    # the same override on DecimalField itself.
    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not _DECIMAL_INPUT.fullmatch(text):
            label = self.label or gettext("This field")
            raise forms.ValidationError(
                gettext("%(label)s: enter a number such as %(comma)s or %(dot)s."),
                code="invalid",
                params={"label": label, "comma": self.example, "dot": self.example.replace(",", ".")},
            )
        return Decimal(text.replace(",", "."))
