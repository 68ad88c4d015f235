from pathlib import Path

import pytest

from elsa_tlm.config import SECTIONS, from_dict, load_config, parse_override, to_toml
from elsa_tlm.errors import ConfigError


def test_defaults_reproduce_the_elsa_chip():
    cfg = load_config()
    assert cfg.noc.topology == "mesh:6x6" and cfg.chip.clock_mhz == 200.0 and cfg.chip.pes_per_core == 4
    assert cfg.pe.neuron_circuits == 128 and cfg.noc.flit_bits == 256 and cfg.noc.link_bits == 512
    assert cfg.noc.fifo_bytes == 512 and cfg.noc.fifo_count == 4 and cfg.noc.router_pipeline_cycles == 8
    stages = cfg.noc.route_compute_cycles + cfg.noc.switch_alloc_cycles + cfg.noc.switch_traversal_cycles
    assert stages == 8


def test_all_contract_sections_and_keys_exist():
    assert list(SECTIONS) == [
        "workload",
        "chip",
        "pe",
        "memory",
        "noc",
        "mapping",
        "schedule",
        "run",
        "output",
    ]
    cfg = load_config()
    for key in [
        "workload.model",
        "workload.activity",
        "run.time_steps",
        "run.seed",
        "chip.clock_mhz",
        "pe.product",
        "memory.technology",
        "noc.topology",
        "noc.routing",
        "noc.protocol",
        "noc.flit_bits",
        "noc.link_bits",
        "noc.fifo_bytes",
        "noc.router_pipeline_cycles",
        "schedule.policy",
        "output.trace",
    ]:
        section, name = key.split(".")
        assert hasattr(getattr(cfg, section), name), key


@pytest.mark.parametrize(
    ("override", "key", "rule"),
    [
        ("noc.topology=mesh:0x6", "noc.topology", "dimensions"),
        ("noc.topology=ring:2", "noc.topology", "ring"),
        ("noc.bogus=1", "noc.bogus", "valid keys: topology"),
        ("chip.clock_mhz=0", "chip.clock_mhz", "between 1 and 10000"),
        ("pe.weight_sram_kib=-5", "pe.weight_sram_kib", "> 0"),
        ('workload.model="alexnet"', "workload.model", "must be one of"),
        ("noc.flit_bits=300", "noc.flit_bits", "between 48 and 256"),
        ('noc.flit_bits="big"', "noc.flit_bits", "type int"),
        ("run.seed=true", "run.seed", "type int"),
        ('schedule.policy="fast"', "schedule.policy", "lbl, tbt, spine"),
    ],
)
def test_bad_values_name_key_value_and_rule(override, key, rule):
    with pytest.raises(ConfigError) as exc:
        load_config(None, [override])
    msg = str(exc.value)
    assert msg.startswith(key) and rule in msg


def test_unknown_section_and_version():
    with pytest.raises(ConfigError, match="valid top-level keys"):
        from_dict({"version": 1, "nocc": {}})
    with pytest.raises(ConfigError, match="version"):
        from_dict({"workload": {}})
    with pytest.raises(ConfigError, match="only version 1"):
        from_dict({"version": 2})


def test_router_stages_must_sum():
    with pytest.raises(ConfigError, match="noc.router_pipeline_cycles"):
        load_config(
            None, ["noc.route_compute_cycles=1", "noc.switch_alloc_cycles=1", "noc.switch_traversal_cycles=1"]
        )
    cfg = load_config(
        None,
        [
            "noc.router_pipeline_cycles=3",
            "noc.route_compute_cycles=1",
            "noc.switch_alloc_cycles=1",
            "noc.switch_traversal_cycles=1",
        ],
    )
    assert cfg.noc.router_pipeline_cycles == 3


def test_override_parsing():
    assert parse_override("noc.flit_bits=128") == ("noc", "flit_bits", 128)
    assert parse_override("noc.topology=mesh:4x4") == ("noc", "topology", "mesh:4x4")
    assert parse_override('noc.topology="torus:3x3"') == ("noc", "topology", "torus:3x3")
    with pytest.raises(ConfigError, match="section.key"):
        parse_override("flit_bits=3")


def test_missing_and_malformed_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[noc\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_resolved_toml_round_trips(tmp_path: Path):
    cfg = load_config(None, ["noc.topology=torus:4x4", "run.seed=7", "pe.product=inner"])
    p = tmp_path / "resolved.toml"
    p.write_text(to_toml(cfg))
    again = load_config(p)
    for s in SECTIONS:
        assert getattr(again, s) == getattr(cfg, s)
