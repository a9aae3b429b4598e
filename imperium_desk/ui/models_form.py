"""The model form of the models panel: kind, lane, scope and family, then one editor per field of that family.

The editors are generated from the family's pydantic `model_fields` (the registries in `models.config`), so a new
family or field shows up here without touching the UI. The form only turns text into a model mapping; whether the
mapping is a valid model is the desk's call (`Desk.switch_model` / `Desk.preview_samples` raise
`ModelConfigError` naming the field), so the form never disagrees with the engine about what is valid.
An empty editor means "not given": optional fields are left out, required ones come back from the desk as missing.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from PySide6.QtCore import QLocale, Signal
from PySide6.QtGui import QDoubleValidator, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from imperium_desk.model_input import ModelKind
from imperium_desk.models.config import LATENCY_FAMILIES, SLIPPAGE_FAMILIES
from imperium_desk.ui.widgets import combo_box

KINDS: Final = ("latency", "slippage")
LATENCY_LANES: Final = ("order", "insert", "report", "cancel", "market_data")
SLIPPAGE_LANES: Final = ("order",)
GLOBAL_SCOPE: Final = "global"
STRUCTURED_LINES: Final = 4  # height of a YAML box: a three-component mixture fits without scrolling


def families(kind: str) -> Mapping[str, type[BaseModel]]:
    """Type name -> config class for `kind` ("latency" or "slippage")."""
    return LATENCY_FAMILIES if kind == "latency" else SLIPPAGE_FAMILIES


def as_kind(text: str) -> ModelKind:
    return "slippage" if text == "slippage" else "latency"


def lanes(kind: str) -> tuple[str, ...]:
    return LATENCY_LANES if kind == "latency" else SLIPPAGE_LANES


def format_number(value: float) -> str:
    return format(value, ".10g")


class FormError(ValueError):
    """Text the form could not turn into values; one "field: message (got ...)" line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


# -- what a field is -----------------------------------------------------------------------------------------
class FieldKind(Enum):
    """How a model field is edited on the form, decided from its type annotation."""

    NUMBER = auto()  # float/int: a line edit with a number validator
    CHOICE = auto()  # Literal: a combo
    TEXT = auto()  # str: a line edit
    PATH = auto()  # `source`: a line edit and a browse button
    SCALAR = auto()  # a number or a word (e.g. bandwidth_ms: float | "silverman")
    STRUCTURED = auto()  # nested models, lists, dicts: a small YAML/JSON box


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a model family as the form edits it: name, kind, required or default, choices and a hint."""

    name: str
    kind: FieldKind
    required: bool
    default: Any  # None when the field has no default
    choices: tuple[str, ...] = ()
    hint: str = ""  # the constraints, for the tooltip

    @classmethod
    def of(cls, name: str, info: FieldInfo) -> FieldSpec:
        kind, choices, optional = _classify(name, info.annotation)
        required = info.is_required()
        default = None if required else info.get_default(call_default_factory=True)
        hint = " ".join(text for text in map(_constraint_text, info.metadata) if text)
        return cls(name, kind, required and not optional, default, choices, hint)

    @property
    def placeholder(self) -> str:
        if self.required:
            return "required"
        if self.default is None or isinstance(self.default, BaseModel | list | dict):
            return "optional"
        return f"default {self.default}"


def family_fields(family: type[BaseModel]) -> list[FieldSpec]:
    """The editable fields of a family, in declaration order (`type` is the family itself)."""
    return [FieldSpec.of(name, info) for name, info in family.model_fields.items() if name != "type"]


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for arg in get_args(annotation) for a in _union_args(arg))
    return (annotation,)


def _classify(name: str, annotation: Any) -> tuple[FieldKind, tuple[str, ...], bool]:
    args = _union_args(annotation)
    optional = type(None) in args
    args = tuple(a for a in args if a is not type(None))
    literals = tuple(str(v) for a in args if get_origin(a) is Literal for v in get_args(a))
    others = [a for a in args if get_origin(a) is not Literal]
    if literals and not others:
        return FieldKind.CHOICE, literals, optional
    if others and all(a in (int, float) for a in others):
        return (FieldKind.SCALAR if literals else FieldKind.NUMBER), literals, optional
    if others and all(a in (str, Path) for a in others) and not literals:
        return (FieldKind.PATH if name == "source" else FieldKind.TEXT), (), optional
    return FieldKind.STRUCTURED, (), optional


def _constraint_text(meta: Any) -> str:
    match meta:
        case annotated_types.Gt(gt=bound):
            return f"> {bound}"
        case annotated_types.Ge(ge=bound):
            return f"≥ {bound}"
        case annotated_types.Lt(lt=bound):
            return f"< {bound}"
        case annotated_types.Le(le=bound):
            return f"≤ {bound}"
        case annotated_types.MinLen(min_length=n):
            return f"at least {n} item(s)"
    return ""


# -- editors -------------------------------------------------------------------------------------------------
class _NotGiven:
    """An empty editor: the field is left out of the model mapping."""


NOT_GIVEN: Final = _NotGiven()


class FieldEditor:
    """One field's widget, its text -> value, and value -> text (to load a model into the form)."""

    def __init__(self, spec: FieldSpec, widget: QWidget) -> None:
        self.spec = spec
        self.widget = widget
        widget.setObjectName(f"modelsField_{spec.name}")
        widget.setToolTip(f"{spec.name}: {spec.hint}" if spec.hint else spec.name)

    def value(self) -> Any:
        """The parsed value or NOT_GIVEN; raises ValueError with a message for the field."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        self.set_value(None)


class LineEditor(FieldEditor):
    """NUMBER, TEXT and SCALAR fields: one line of text."""

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        self.line = QLineEdit(parent)
        self.line.setPlaceholderText(spec.placeholder)
        if spec.kind is FieldKind.NUMBER:
            # No range here: bounds are the desk's to enforce, so a bad number comes back as the desk's error.
            validator = QDoubleValidator(self.line)
            validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
            validator.setLocale(QLocale.c())  # "0.3", whatever the system locale
            self.line.setValidator(validator)
        super().__init__(spec, self.line)

    def value(self) -> Any:
        text = self.line.text().strip()
        if not text:
            return NOT_GIVEN
        if self.spec.kind is FieldKind.TEXT:
            return text
        try:
            return float(text)
        except ValueError:
            if self.spec.kind is FieldKind.SCALAR:
                return text
            raise ValueError(f"not a number (got {text!r})") from None

    def set_value(self, value: Any) -> None:
        if value is None:
            self.line.clear()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.line.setText(format_number(value))
        else:
            self.line.setText(str(value))


class PathEditor(FieldEditor):
    """A CSV path with a browse button; the file dialog is non-modal (`open()`), so the desk keeps running."""

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        box = QWidget(parent)
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit(box)
        self.line.setObjectName("modelsSourcePath")
        self.line.setPlaceholderText(spec.placeholder)
        self.browse_button = QPushButton("Browse…", box)
        self.browse_button.setObjectName("modelsBrowseButton")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.line, 1)
        row.addWidget(self.browse_button)
        self.dialog: QFileDialog | None = None
        super().__init__(spec, box)

    def _browse(self) -> None:
        if self.dialog is None:
            start = str(Path(self.line.text()).parent) if self.line.text() else ""
            self.dialog = QFileDialog(self.widget, "Samples file", start, "CSV files (*.csv);;All files (*)")
            self.dialog.setObjectName("modelsSourceDialog")
            self.dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
            self.dialog.fileSelected.connect(self.line.setText)
        self.dialog.open()

    def value(self) -> Any:
        text = self.line.text().strip()
        return text if text else NOT_GIVEN

    def set_value(self, value: Any) -> None:
        self.line.setText("" if value is None else str(value))


class ChoiceEditor(FieldEditor):
    """A Literal field; an optional one has an empty entry meaning "not given"."""

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        self.combo = QComboBox(parent)
        if not spec.required and spec.default is None:
            self.combo.addItem("")
        self.combo.addItems(list(spec.choices))
        super().__init__(spec, self.combo)
        self.clear()

    def value(self) -> Any:
        text = self.combo.currentText()
        return text if text else NOT_GIVEN

    def set_value(self, value: Any) -> None:
        if value is None:
            value = self.spec.default if self.spec.default is not None else ""
        self.combo.setCurrentText(str(value))


class StructuredEditor(FieldEditor):
    """Nested models (mixture components, a shifted model, scale_with) as YAML or JSON (JSON is YAML)."""

    def __init__(self, spec: FieldSpec, parent: QWidget) -> None:
        self.text = QPlainTextEdit(parent)
        self.text.setPlaceholderText(_structured_example(spec.name) or spec.placeholder)
        self.text.setTabChangesFocus(True)
        lines = QFontMetrics(self.text.font()).lineSpacing() * STRUCTURED_LINES
        self.text.setFixedHeight(lines + 2 * self.text.frameWidth() + 8)
        super().__init__(spec, self.text)

    def value(self) -> Any:
        text = self.text.toPlainText().strip()
        if not text:
            return NOT_GIVEN
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "cannot be read"
            raise ValueError(f"not valid YAML/JSON{where}: {problem}") from None

    def set_value(self, value: Any) -> None:
        if value is None:
            self.text.clear()
            return
        # Flow style inside, block style outside: one mixture component per line.
        self.text.setPlainText(yaml.safe_dump(value, default_flow_style=None, sort_keys=False).strip())


def _structured_example(name: str) -> str:
    match name:
        case "components":
            return (
                "- {weight: 0.95, type: lognormal, median_ms: 40, sigma: 0.3}\n"
                "- {weight: 0.05, type: normal, mean_ms: 400, std_ms: 80}"
            )
        case "model":
            return "{type: lognormal, median_ms: 40, sigma: 0.3}"
        case "scale_with":
            return "optional, e.g. {volatility: 1.0, message_rate: 0.5}"
    return ""


def make_editor(spec: FieldSpec, parent: QWidget) -> FieldEditor:
    match spec.kind:
        case FieldKind.CHOICE:
            return ChoiceEditor(spec, parent)
        case FieldKind.PATH:
            return PathEditor(spec, parent)
        case FieldKind.STRUCTURED:
            return StructuredEditor(spec, parent)
    return LineEditor(spec, parent)


# -- the form ------------------------------------------------------------------------------------------------
class ModelForm(QWidget):
    """Kind, lane, scope and family combos over the family's field editors.

    `model()` is the mapping to hand the desk (raises FormError for text that is not a value at all);
    `load(...)` fills the form from a model row. `edited` fires on any change the trader makes.
    """

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsForm")
        self.editors: dict[str, FieldEditor] = {}
        self._fields_box: QWidget | None = None

        self.kind_combo = combo_box(self, "modelsKind", KINDS)
        self.lane_combo = combo_box(self, "modelsLane", LATENCY_LANES)
        self.scope_combo = combo_box(self, "modelsScope", (GLOBAL_SCOPE,))
        self.scope_combo.setEditable(True)  # a trading symbol may be typed in
        self.scope_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.type_combo = combo_box(self, "modelsType", tuple(families("latency")))

        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addRow("Kind", self.kind_combo)
        self._layout.addRow("Lane", self.lane_combo)
        self._layout.addRow("Scope", self.scope_combo)
        self._layout.addRow("Type", self.type_combo)

        self.kind_combo.currentTextChanged.connect(self._on_kind_changed)
        self.type_combo.currentTextChanged.connect(self._on_type_changed)
        self.lane_combo.currentTextChanged.connect(lambda _text: self.edited.emit())
        self.scope_combo.currentTextChanged.connect(lambda _text: self.edited.emit())
        self._rebuild_fields()

    # -- reading ---------------------------------------------------------------------------------------------
    @property
    def kind(self) -> ModelKind:
        return as_kind(self.kind_combo.currentText())

    @property
    def lane(self) -> str:
        return self.lane_combo.currentText()

    @property
    def scope(self) -> str:
        return self.scope_combo.currentText().strip()

    @property
    def family(self) -> str:
        return self.type_combo.currentText()

    def field_widget(self, name: str) -> QWidget:
        return self.editors[name].widget

    def model(self) -> dict[str, Any]:
        """{"type": family, field: value, ...} with empty editors left out; FormError lists unreadable fields."""
        model: dict[str, Any] = {"type": self.family}
        errors: list[str] = []
        for name, editor in self.editors.items():
            try:
                value = editor.value()
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                continue
            if value is not NOT_GIVEN:
                model[name] = value
        if errors:
            raise FormError(errors)
        return model

    def target(self) -> tuple[ModelKind, str, str]:
        """(kind, lane, scope) the form points at; FormError when no scope is given."""
        if not self.scope:
            raise FormError(["scope: give global, an underlying or a trading symbol"])
        return self.kind, self.lane, self.scope

    # -- writing ---------------------------------------------------------------------------------------------
    def set_scope_choices(self, scopes: Sequence[str]) -> None:
        """Offer `scopes` (global first) without touching what is typed in the scope box."""
        current = self.scope_combo.currentText()
        self.scope_combo.blockSignals(True)
        self.scope_combo.clear()
        self.scope_combo.addItems([GLOBAL_SCOPE, *[s for s in scopes if s != GLOBAL_SCOPE]])
        self.scope_combo.setCurrentText(current)
        self.scope_combo.blockSignals(False)

    def load(self, kind: str, lane: str, scope: str, params: Mapping[str, Any]) -> None:
        """Show a model: its kind, lane, scope, family and every field it gives."""
        self.kind_combo.setCurrentText(kind)
        self.lane_combo.setCurrentText(lane)
        self.scope_combo.setCurrentText(scope)
        family = str(params.get("type", ""))
        if family in families(kind):
            self.type_combo.setCurrentText(family)  # rebuilds the editors when the family changes
        for name, editor in self.editors.items():
            editor.set_value(params.get(name))

    def set_family(self, family: str) -> None:
        self.type_combo.setCurrentText(family)

    # -- reacting --------------------------------------------------------------------------------------------
    def _on_kind_changed(self, kind: str) -> None:
        lane = self.lane
        self.lane_combo.blockSignals(True)
        self.lane_combo.clear()
        self.lane_combo.addItems(list(lanes(kind)))
        self.lane_combo.setCurrentText(lane if lane in lanes(kind) else "order")
        self.lane_combo.setEnabled(len(lanes(kind)) > 1)  # slippage has the order lane only
        self.lane_combo.blockSignals(False)
        family = self.family
        self.type_combo.blockSignals(True)
        self.type_combo.clear()
        self.type_combo.addItems(list(families(kind)))
        if family in families(kind):
            self.type_combo.setCurrentText(family)
        self.type_combo.blockSignals(False)
        self._rebuild_fields()
        self.edited.emit()

    def _on_type_changed(self, _family: str) -> None:
        self._rebuild_fields()
        self.edited.emit()

    def _rebuild_fields(self) -> None:
        """New editors for the chosen family; values of fields the old family shared (e.g. sigma) carry over."""
        carried: dict[str, Any] = {}
        for name, editor in self.editors.items():
            try:
                value = editor.value()
            except ValueError:
                continue
            if value is not NOT_GIVEN:
                carried[name] = value
        if self._fields_box is not None:
            self._layout.removeRow(self._fields_box)  # deletes the old editors with their box
        family = families(self.kind).get(self.family)
        box = QWidget(self)
        box.setObjectName("modelsFields")
        rows = QFormLayout(box)
        rows.setContentsMargins(0, 0, 0, 0)
        self.editors = {}
        for spec in family_fields(family) if family is not None else []:
            editor = make_editor(spec, box)
            if spec.name in carried and spec.kind is not FieldKind.CHOICE:
                editor.set_value(carried[spec.name])
            self._connect_edited(editor)
            rows.addRow(spec.name, editor.widget)
            self.editors[spec.name] = editor
        self._fields_box = box
        self._layout.addRow(box)

    def _connect_edited(self, editor: FieldEditor) -> None:
        if isinstance(editor, LineEditor | PathEditor):
            editor.line.textEdited.connect(lambda _text: self.edited.emit())
        elif isinstance(editor, ChoiceEditor):
            editor.combo.activated.connect(lambda _index: self.edited.emit())
        elif isinstance(editor, StructuredEditor):
            editor.text.textChanged.connect(self.edited.emit)
