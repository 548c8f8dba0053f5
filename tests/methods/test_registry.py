"""The method registry: declared once, checked when declared, plugins by file, the table the README shows."""

import pytest

from ecgrecon import methods as registry
from ecgrecon.methods import Method
from ecgrecon.tasks import TaskError, parse_task


def test_built_in_methods_in_table_order_with_what_they_need():
    assert registry.names() == ["GL", "C", "Ch", "ChA", "Cpaper", "Chpaper", "PCM"]
    assert registry.names("decoder") == ["C", "Ch", "ChA", "Cpaper", "Chpaper"]
    ch, chp = registry.get("Ch"), registry.get("Chpaper")
    assert (ch.design, ch.decoder_section, ch.encoder_section) == ("ours", "decoder", "encoder")
    assert (chp.design, chp.decoder_section, chp.encoder_section) == ("paper", "decoder_paper", "encoder_paper")
    assert chp.uses_h and chp.raw_inputs and not chp.exportable and chp.compare_to == "Cpaper"
    cha = registry.get("ChA")
    assert cha.uses_h and cha.raw_inputs and cha.anchor == "GL" and cha.exportable and cha.display == "ChA"
    assert not registry.get("C").uses_h and registry.get("PCM").calibration and registry.get("PCM").kind == "calibrated"
    assert registry.display("Ch") == "C-h" and registry.display("train_mean") == "train mean"


def test_a_second_declaration_or_a_bad_one_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        registry.register(Method("GL", "GL2", "population linear", "linear", "another GL"))
    with pytest.raises(ValueError, match="unknown kind 'forest'"):
        registry.register(Method("RF", "RF", "trees", "forest", "a random forest"))
    with pytest.raises(ValueError, match="anchor 'nothing' is not a registered method"):
        registry.register(Method("X1", "X1", "anchored deep", "decoder", "x", anchor="nothing"))
    with pytest.raises(ValueError, match="unknown design 'theirs'"):
        registry.register(Method("X3", "X3", "discriminative deep", "decoder", "x", design="theirs"))
    with pytest.raises(ValueError, match="unknown corruptions"):
        registry.register(Method("X2", "X2", "population linear", "linear", "x", corruptions=("none", "fog")))
    assert not {"RF", "X1", "X2", "X3"} & set(registry.REGISTRY)
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        registry.get("nope")


def test_plugins_register_from_a_file_and_a_broken_file_is_named(tmp_path):
    good = tmp_path / "ridge9.py"
    good.write_text(
        "from ecgrecon.methods import Method, register\n"
        'register(Method("GL9", "GL (+-9)", "population linear", "linear", "GL, 9 taps", settings={"context": 9}))\n'
    )
    try:
        assert registry.load_plugins([good]) == ["GL9"] and registry.get("GL9").settings == {"context": 9}
        assert registry.load_plugins([good]) == []  # loading the same file again adds nothing and is no error
        task = parse_task("t", {"inputs": ["I"], "targets": ["II"], "methods": ["GL", "GL9"]})
        assert task.methods == ("GL", "GL9")
    finally:
        registry.REGISTRY.pop("GL9", None)
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('no')\n")
    with pytest.raises(RuntimeError, match=r"broken.py failed to load: RuntimeError: no"):
        registry.load_plugins([bad])
    with pytest.raises(FileNotFoundError, match="method_plugins: .*absent.py does not exist"):
        registry.load_plugins([tmp_path / "absent.py"])


def test_every_method_supports_only_uncorrupted_input_today():
    for name in registry.names():
        with pytest.raises(TaskError, match=f"{name} does not support corruption 'time_mask'"):
            parse_task("t", {"inputs": ["I"], "targets": ["II"], "corruption": "time_mask", "methods": [name]})


def test_one_baseline_and_the_delta_pairs_come_from_the_registry():
    from ecgrecon.evaluation.evaluate import _delta_pairs

    assert registry.baseline() == "GL"
    with pytest.raises(ValueError, match="'GL' is already the baseline"):
        registry.register(Method("GL2", "GL2", "population linear", "linear", "x", baseline=True))
    with pytest.raises(ValueError, match="compare_to 'nothing' is not a registered method"):
        registry.register(Method("X3", "X3", "discriminative deep", "decoder", "x", compare_to="nothing"))
    assert _delta_pairs(["GL", "C", "Ch", "ChA"]) == [("C", "Ch")]  # Table I's Δ %: C-h over C
    assert _delta_pairs(["GL", "Ch"]) == []  # no Δ column without the method it is compared with
