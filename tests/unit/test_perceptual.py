"""Perceptual networks: random-weight files of the real architectures, recognised by their
tensors (not their names), loaded strictly, and LPIPS on a loaded backbone checked against
torchmetrics' own LPIPS built independently from the same file.

AlexNet (244 MB) is written once per module; VGG16 (553 MB) only as a shape-only state dict on
the meta device."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import PerceptualNet, load_model, module_device, module_dtype
from pinpoint.loading.kinds import PERCEPTUAL
from pinpoint.loading.perceptual import EXPECTED_FILES, NETWORKS, identify, lpips_module
from pinpoint.metrics import lpips_outside
from pinpoint.tiny import TINY_MODELS
from pinpoint.tiny._build import stamp_file
from pinpoint.tiny.perceptual import TINY_PERCEPTUAL_FILE, build_tiny_perceptual

HEIGHT, WIDTH = 48, 64


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models") / PERCEPTUAL.folder


@pytest.fixture(scope="module")
def squeeze_file(folder: Path) -> Path:
    return build_tiny_perceptual(folder / TINY_PERCEPTUAL_FILE)


@pytest.fixture(scope="module")
def alex_file(folder: Path) -> Iterator[Path]:
    file = build_tiny_perceptual(folder / "random-alexnet.pth", "alexnet")
    yield file
    file.unlink()  # 244 MB: not kept with pytest's last temporary folders


def state_of(file: Path) -> dict[str, torch.Tensor]:
    return torch.load(file, map_location="cpu", weights_only=True)


def test_the_kind_names_every_accepted_file_and_the_tiny_set_has_squeezenet():
    for network in NETWORKS.values():
        assert network.file in EXPECTED_FILES and network.url.endswith(network.file)
    assert PERCEPTUAL.expected_files == EXPECTED_FILES
    assert (
        PERCEPTUAL.download_url
        == NETWORKS["alexnet"].url
        == ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
    )
    assert TINY_MODELS["perceptual"] == (PERCEPTUAL, TINY_PERCEPTUAL_FILE, build_tiny_perceptual)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_each_network_is_recognised_by_its_tensor_names_and_shapes(name):
    with torch.device("meta"):  # shapes only: no memory, even for VGG16
        state = NETWORKS[name].build().state_dict()
    assert identify(state, Path("anything.pth")).name == name


@pytest.mark.parametrize(
    ("fixture", "network", "part"),
    [
        ("squeeze_file", "squeezenet1_1", torch.nn.Sequential),
        ("alex_file", "alexnet", torch.nn.Sequential),
        ("inception_file", "inception_fid", torch.nn.Module),
    ],
)
def test_a_random_file_loads_as_its_network(fixture, network, part, request):
    file = request.getfixturevalue(fixture)
    loaded = load_model(PERCEPTUAL, file)
    assert type(loaded) is PerceptualNet and loaded.network == network
    assert loaded.name == file.name and loaded.path == file.resolve()
    assert isinstance(loaded.model, part) and not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert module_dtype(loaded.model) == torch.float32
    assert module_device(loaded.model) == torch.device("cpu")
    assert load_model(PERCEPTUAL, file) is loaded  # cached
    expected = state_of(file)
    held = loaded.model.state_dict()
    prefix = f"{NETWORKS[network].part}." if NETWORKS[network].part else ""  # features only
    assert {prefix + key for key in held} == {key for key in expected if key.startswith(prefix)}
    assert all(torch.equal(value, expected[prefix + key]) for key, value in held.items())


def test_renamed_prefixed_and_safetensors_files_are_recognised(squeeze_file, tmp_path):
    state = state_of(squeeze_file)
    renamed = Path(shutil.copy(squeeze_file, tmp_path / "my-lpips-weights.pth"))
    wrapped = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    converted = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, converted)
    for file in (renamed, wrapped, converted):
        assert load_model(PERCEPTUAL, file).network == "squeezenet1_1", file.name


def test_a_file_of_another_network_names_every_accepted_file(tmp_path):
    other = tmp_path / "resnet18.pth"
    torch.save({"conv1.weight": torch.rand(64, 3, 7, 7), "fc.bias": torch.rand(1000)}, other)
    with pytest.raises(PinpointError) as caught, reported_as("Load Perceptual Network"):
        load_model(PERCEPTUAL, other)
    message = str(caught.value)
    assert message.startswith(
        "Load Perceptual Network: 'resnet18.pth' is none of the perceptual networks Pinpoint "
        "reads (alexnet, vgg16, squeezenet1_1, inception_fid; found 2 keys: conv1.weight, fc.bias)"
        ". Fix: use one of the weights files Pinpoint reads, as downloaded: "
    )
    for network in NETWORKS.values():
        command = f"curl -L --create-dirs -o {tmp_path / network.file} {network.url}"
        assert f"{network.file} ({network.use}): `{command}`" in message
    assert message.endswith(".")


def test_a_missing_or_extra_weight_is_refused(squeeze_file, tmp_path):
    state = state_of(squeeze_file)
    lacking = tmp_path / "lacking.pth"
    torch.save({k: v for k, v in state.items() if k != "features.3.squeeze.weight"}, lacking)
    with pytest.raises(PinpointError) as caught:
        load_model(PERCEPTUAL, lacking)
    message = str(caught.value)
    assert "'lacking.pth' looks like squeezenet1_1 (LPIPS) but its weights do not fit" in message
    assert 'Missing key(s) in state_dict: "features.3.squeeze.weight"' in message
    assert NETWORKS["squeezenet1_1"].url in message
    extra = tmp_path / "extra.pth"
    torch.save({**state, "head.weight": torch.zeros(2)}, extra)
    with pytest.raises(PinpointError, match='Unexpected key.* "head.weight"'):
        load_model(PERCEPTUAL, extra)


def test_missing_files_folders_and_pickled_models_are_refused(squeeze_file, tmp_path):
    url = NETWORKS["vgg16"].url
    with pytest.raises(PinpointError, match=f"does not exist. Fix: .*{url}"):
        load_model(PERCEPTUAL, tmp_path / "alexnet-owt-7be5be79.pth")
    with pytest.raises(PinpointError, match="is a folder, but perceptual .* come in a single"):
        load_model(PERCEPTUAL, tmp_path)
    pickled = tmp_path / "whole-model.pth"
    model = torchvision.models.squeezenet1_1(weights=None)
    model.load_state_dict(state_of(squeeze_file))
    torch.save(model, pickled)  # the module object, not its state dict
    with pytest.raises(PinpointError, match="holds pickled Python objects .*never unpickles"):
        load_model(PERCEPTUAL, pickled)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(PinpointError, match="'list.pth' holds a list, not a state dict"):
        load_model(PERCEPTUAL, tmp_path / "list.pth")


def test_without_torch_fidelity_the_lpips_backbones_still_load(squeeze_file, tmp_path, monkeypatch):
    import torchmetrics.image.fid

    from pinpoint.loading import perceptual

    monkeypatch.setattr(torchmetrics.image.fid, "_TORCH_FIDELITY_AVAILABLE", False)
    perceptual._shapes.cache_clear()
    try:
        copy = Path(shutil.copy(squeeze_file, tmp_path / "copy.pth"))
        assert load_model(PERCEPTUAL, copy).network == "squeezenet1_1"
        torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
        with pytest.raises(PinpointError) as caught:
            load_model(PERCEPTUAL, tmp_path / "other.pth")
        assert "; not checked: inception_fid: the FID Inception needs the torch-fidelity " in (
            str(caught.value)
        )
    finally:
        perceptual._shapes.cache_clear()


def test_the_tiny_builder_is_deterministic_idempotent_and_leaves_the_rng_alone(
    squeeze_file, tmp_path
):
    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    again = build_tiny_perceptual(tmp_path / "again.pth")
    assert torch.equal(torch.rand(3), expected_next)
    first, second = state_of(squeeze_file), state_of(again)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    stamp = json.loads(stamp_file(again).read_text())
    assert stamp["network"] == "squeezenet1_1" and "noise" in stamp["note"]
    before = again.stat().st_mtime_ns
    assert build_tiny_perceptual(again) == again and again.stat().st_mtime_ns == before
    (tmp_path / "theirs.pth").write_bytes(b"not ours")
    with pytest.raises(PinpointError, match="is not a Pinpoint tiny-model build"):
        build_tiny_perceptual(tmp_path / "theirs.pth")
    with pytest.raises(PinpointError, match="no perceptual network 'resnet'"):
        build_tiny_perceptual(tmp_path / "resnet.pth", "resnet")


def masked_pairs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sources, edits and masks ``[3, H, W(, 3)]``: untouched, changed inside only, changed
    outside too."""
    generator = torch.Generator().manual_seed(0)
    sources = torch.rand(3, HEIGHT, WIDTH, 3, generator=generator)
    masks = torch.zeros(3, HEIGHT, WIDTH)
    masks[:, 10:30, 20:44] = 1.0
    edits = sources.clone()
    edits[1:, 10:30, 20:44] = torch.rand(2, 20, 24, 3, generator=generator)
    edits[2, 36:46, 2:20] = 0.2
    return sources, edits, masks


@pytest.mark.parametrize(("fixture", "name"), [("squeeze_file", "squeeze"), ("alex_file", "alex")])
def test_lpips_outside_equals_torchmetrics_lpips_on_the_masked_images(
    fixture, name, request, monkeypatch
):
    from torchmetrics.functional.image import lpips as tm_lpips
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    file = request.getfixturevalue(fixture)
    net = load_model(PERCEPTUAL, file)
    sources, edits, masks = masked_pairs()
    measured = lpips_outside(net, edits, sources, masks)
    assert measured[:2] == [0.0, 0.0] and measured[2] > 0  # untouched outside: exactly 0
    assert lpips_module(net) is lpips_module(net)  # built once per loaded network

    # torchmetrics' own LPIPS, with torchvision's network loaded by hand from the same file in
    # place of the pretrained download
    reference = getattr(torchvision.models, NETWORKS[net.network].name)(weights=None)
    reference.load_state_dict(state_of(file))
    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", lambda *args: reference.features)
    metric = LearnedPerceptualImagePatchSimilarity(name, reduction="none", normalize=True)
    keep = (masks < 0.5).to(torch.float32)[..., None]
    metric.update((edits * keep).permute(0, 3, 1, 2), (sources * keep).permute(0, 3, 1, 2))
    expected = metric.compute()
    assert float(expected[0]) == 0.0 and float(expected[1]) == 0.0
    assert measured[2] == pytest.approx(float(expected[2]), rel=1e-5)


def test_lpips_runs_in_the_backbones_dtype_and_the_fid_inception_stays_float32(
    squeeze_file, inception_file
):
    half = load_model(PERCEPTUAL, squeeze_file, dtype=torch.bfloat16)
    assert module_dtype(half.model) == module_dtype(lpips_module(half)) == torch.bfloat16
    sources, edits, masks = masked_pairs()
    assert lpips_outside(half, edits, sources, masks)[2] > 0
    inception = load_model(PERCEPTUAL, inception_file, dtype=torch.bfloat16)
    assert module_dtype(inception.model) == torch.float32


def test_lpips_of_an_fid_network_is_refused(inception_file):
    inception = load_model(PERCEPTUAL, inception_file)
    with pytest.raises(PinpointError) as caught:
        lpips_module(inception)
    message = str(caught.value)
    assert "LPIPS needs an LPIPS network, but 'random-inception.pth' is inception_fid" in message
    assert NETWORKS["alexnet"].file in message and NETWORKS["inception_fid"].file not in message
