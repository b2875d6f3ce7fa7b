"""papermill for Go notebooks: papermill's own command line, with a parameter translator for Go.

papermill writes the injected parameters cell in the notebook's language, and it has no translator for Go
(it stops with "No parameter translator functions specified for kernel 'gonbgpu' or language 'go'"),
nor a way to add one from its command line. This script registers one and runs papermill:

    python3 install/python/papermill_go.py notebooks/03-vanishing-gradients.ipynb out.ipynb -p epochs 1

with any of papermill's options. Each parameter becomes a Go declaration, `var epochs = 1`, in the cell
papermill injects after the notebook's cell tagged "parameters"; GoNB keeps a name's latest declaration,
so it replaces the notebook's own `var epochs = …` in every later cell. Integers, floats, strings and
booleans, and lists and dicts of them, are translated; None is refused (Go has no untyped nil value).
"""
import json
import math
import sys

from papermill.cli import papermill
from papermill.exceptions import PapermillException
from papermill.translators import Translator, papermill_translators


class GoTranslator(Translator):
    @classmethod
    def translate_none(cls, val):
        raise PapermillException("papermill_go: a None parameter has no Go value; give it a value of the type the notebook declares")

    @classmethod
    def translate_str(cls, val):
        # A JSON string with non-ASCII kept as is is a valid Go string literal: JSON's escapes (\" \\ \n \t
        # \uXXXX below U+0020) are Go's too, and a UTF-16 surrogate pair never appears.
        return json.dumps(val, ensure_ascii=False)

    @classmethod
    def translate_escaped_str(cls, str_val):
        return cls.translate_str(str(str_val))

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_int(cls, val):
        return str(val)

    @classmethod
    def translate_float(cls, val):
        if math.isnan(val) or math.isinf(val):
            return "math.NaN()" if math.isnan(val) else ("math.Inf(1)" if val > 0 else "math.Inf(-1)")
        s = repr(val)
        return s if any(c in s for c in ".eE") else s + ".0"  # a float64, not an int

    @classmethod
    def go_type(cls, values):
        kinds = {type(v) for v in values}
        if kinds == {bool}:
            return "bool"
        if kinds == {int}:
            return "int"
        if kinds <= {int, float} and kinds:
            return "float64"
        if kinds == {str}:
            return "string"
        return "any"

    @classmethod
    def translate_list(cls, val):
        t = cls.go_type(val)
        if t == "float64":
            val = [float(v) for v in val]
        return "[]%s{%s}" % (t, ", ".join(cls.translate(v) for v in val))

    @classmethod
    def translate_dict(cls, val):
        t = cls.go_type(list(val.values()))
        if t == "float64":
            val = {k: float(v) for k, v in val.items()}
        items = ", ".join("%s: %s" % (cls.translate_str(str(k)), cls.translate(v)) for k, v in val.items())
        return "map[string]%s{%s}" % (t, items)

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"var {name} = {str_val}"


papermill_translators.register("go", GoTranslator)
papermill_translators.register("gonbgpu", GoTranslator)

if __name__ == "__main__":
    sys.exit(papermill())
