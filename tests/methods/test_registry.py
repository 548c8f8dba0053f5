"""The method registry: declared once, checked when declared, plugins by file, the table the README shows."""

import pytest

from ecgrecon import methods as registry
from ecgrecon.methods import Method
from ecgrecon.tasks import TaskError, parse_task


def test_built_in_methods_in_table_order_with_what_they_need():
    assert registry.names()[:11] == ["GL", "C", "Ch", "ChA", "Cpaper", "Chpaper", "filter", "DN", "PCM", "calinet", "diffusion"]
    assert registry.names()[11:] == ["GLPT", "ChPT", "ChAPT"]  # the pre-trained variants (ecgrecon.methods.pretrained)
    assert [registry.get(m).pretrained for m in ("GLPT", "ChPT", "ChAPT")] == ["GL", "Ch", "ChA"]
    assert registry.get("ChAPT").anchor == "GLPT" and registry.get("ChPT").encoder_section == "encoder_pt"
    assert registry.names("generative") == ["diffusion"] and not registry.get("diffusion").joint and registry.get("GL").joint
    assert "| `diffusion` | Diffusion | generative prior | `train_prior` |" in registry.markdown_table()
    assert registry.names("calibrated") == ["PCM", "calinet"]
    cal = registry.get("calinet")
    assert cal.display == "CaLiNet-E" and cal.calibration and cal.anchor == "GL" and cal.fitted_by == "`train_calinet`"
    assert "| `calinet` | CaLiNet-E | per-patient calibrated + deep residual | `train_calinet` |" in registry.markdown_table()
    assert registry.names("decoder") == ["C", "Ch", "ChA", "Cpaper", "Chpaper", "DN", "ChPT", "ChAPT"]
    assert registry.names("fixed") == ["filter"]
    dn = registry.get("DN")
    assert dn.neighbours and dn.raw_inputs and dn.decoder_section == "decoder_denoise" and dn.corruptions == ("noise",)
    assert [m for m in registry.names() if registry.get(m).supports("noise")] == ["GL", "C", "filter", "DN", "diffusion"]
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


def test_noise_tasks_parse_their_noise_and_allow_targets_among_inputs():
    from ecgrecon.tasks import NoiseSpec, check_clean_models, parse_tasks

    leads = ["I", "II", "V2"]
    spec = {
        "inputs": leads,
        "targets": leads,
        "corruption": "noise",
        "noise": {"kind": "em", "levels": [12, "bedin", -6]},
        "methods": ["GL", "DN", "filter"],
    }
    task = parse_task("dn", spec)
    assert task.denoising and task.noise == NoiseSpec("em", (12.0, "bedin", -6.0))
    with pytest.raises(TaskError, match=r"tasks\.dn\.noise: a task with corruption noise needs noise"):
        parse_task("dn", {**spec, "noise": None})
    with pytest.raises(TaskError, match=r"tasks\.dn\.noise\.levels lists a level twice"):
        parse_task("dn", {**spec, "noise": {"kind": "em", "levels": [0, 0.0]}})
    with pytest.raises(TaskError, match="Ch does not support corruption 'noise'"):
        parse_task("dn", {**spec, "methods": ["Ch"]})
    with pytest.raises(TaskError, match=r"tasks\.c\.noise is set but tasks\.c\.corruption is 'none'"):
        parse_task("c", {"inputs": ["I"], "targets": ["II"], "noise": {"kind": "em", "levels": [0]}, "methods": ["GL"]})
    clean = {"inputs": ["I"], "targets": ["II"], "methods": ["GL", "C", "Ch"]}
    noisy = {"inputs": ["I"], "targets": ["II"], "corruption": "noise", "noise": {"kind": "bw", "levels": [6]}, "methods": ["GL", "C"]}
    tasks = parse_tasks({"c": clean, "n": {**noisy, "clean_models": "c"}})
    assert tasks["n"].clean_models == "c" and not tasks["n"].denoising
    check_clean_models(tasks, ["c", "n"])
    with pytest.raises(TaskError, match=r"tasks\.n\.clean_models: 'c' is not in run_tasks"):
        check_clean_models(tasks, ["n"])
    check_clean_models(tasks, ["c"])  # a declared task that is not run is not checked against others
    with pytest.raises(TaskError, match=r"tasks\.n\.clean_models: no task 'x'"):
        check_clean_models(parse_tasks({"c": clean, "n": {**noisy, "clean_models": "x"}}), ["c", "n"])
    with pytest.raises(TaskError, match="must be a task without corruption and with the same inputs"):
        check_clean_models(parse_tasks({"c": {**clean, "targets": ["V1"]}, "n": {**noisy, "clean_models": "c"}}), ["c", "n"])


def test_no_method_supports_time_masked_input_yet():
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
