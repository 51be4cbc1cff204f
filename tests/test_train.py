"""pdegen.train on CPU: tensors equal the store's, splits, normalisation, workers, training."""

import copy
import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("neuralop")

from click.testing import CliRunner  # noqa: E402

from conftest import mpi_env, mpiexec, small_recipe, write_recipe  # noqa: E402
from pdegen.cli import main  # noqa: E402
from pdegen.store import open_dataset  # noqa: E402
from pdegen.train import PDEDataset, make_loader  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    recipe = small_recipe(tmp, **{"samples": 64, "output.chunk_samples": 8,
                                  "parameters.forcing": {"dist": "uniform", "low": 0.5, "high": 1.5}})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    return tmp / "tiny.zarr"


def test_tensors_equal_the_store_and_normalisation_inverts(store):
    data = PDEDataset(store, "train")
    raw = PDEDataset(store, "train", normalize=False)
    ds = open_dataset(store)
    rows = np.flatnonzero(ds.split_mask("train") & ds["done"][:])
    assert len(data) == rows.size and data.in_channels == 2 and data.out_channels == 1
    items = raw.__getitems__([5, 0, 3])
    for (x, y), index in zip(items, [5, 0, 3]):
        row = rows[index]
        assert torch.equal(x[0], torch.from_numpy(ds["inputs/coefficient"][row]))
        assert torch.allclose(x[1], torch.full((16, 16), float(ds["params/forcing"][row])))
        assert torch.equal(y[0], torch.from_numpy(ds["outputs/solution"][row]))
    x, y = data[5]
    xr, yr = raw[5]
    assert torch.allclose(data.input_normalizer.decode(x, channel_dim=0), xr, atol=1e-6, rtol=1e-6)
    assert torch.allclose(data.output_normalizer.decode(y, channel_dim=0), yr, atol=1e-6, rtol=1e-6)
    stats = ds.attrs["normalization"]["outputs/solution"]
    assert abs(float(data.output_normalizer.mean) - stats["mean"]) < 1e-6


def test_pointwise_normalisation_uses_the_train_splits_moments_at_every_grid_point(store):
    """FNO's convention: mean and std per channel and grid point over the train rows
    (against numpy on the stored arrays), handed to the other splits, inverted by decode."""
    ds = open_dataset(store)
    rows = np.flatnonzero(ds.split_mask("train") & ds["done"][:])
    solution = ds["outputs/solution"][:][rows].astype(np.float64)[:, ::2, ::2]
    coefficient = ds["inputs/coefficient"][:][rows].astype(np.float64)[:, ::2, ::2]
    train = PDEDataset(store, "train", subsample=2, pointwise=True)
    output, inputs = train.output_normalizer, train.input_normalizer
    assert output.mean.shape == (1, 8, 8) and inputs.mean.shape == (2, 8, 8)
    assert np.allclose(output.mean[0].numpy(), solution.mean(0), rtol=1e-5, atol=0)
    assert np.allclose(output.std[0].numpy(), solution.std(0), rtol=1e-4, atol=0)
    assert np.allclose(inputs.std[0].numpy(), coefficient.std(0), rtol=1e-4, atol=0)
    forcing = ds["params/forcing"][:][rows]  # a scalar parameter: the same moments at every point
    assert np.allclose(inputs.mean[1].numpy(), forcing.mean(), rtol=1e-5) and torch.all(inputs.std[1] > 0)
    x, y = train.batch(range(len(train)))
    assert float(y.mean(0).abs().max()) < 1e-5 and float((y.std(0, unbiased=False) - 1).abs().max()) < 1e-4
    test = PDEDataset(store, "test", subsample=2, pointwise=True, statistics=train.statistics)
    assert test.output_normalizer.mean is output.mean  # the train split's, not its own
    x, y = test.batch([0, 1])
    raw = PDEDataset(store, "test", subsample=2, normalize=False).batch([0, 1])
    assert torch.allclose(test.output_normalizer.decode(y), raw[1], rtol=1e-5, atol=1e-7)
    assert torch.allclose(test.input_normalizer.decode(x), raw[0], rtol=1e-5, atol=1e-7)


def test_a_store_without_normalisation_statistics_gets_them_from_its_train_rows(store, tmp_path):
    """An interrupted build has not written its ``normalization`` attribute yet: the
    dataset computes the same statistics from the written train rows, instead of
    silently training on unnormalised fields."""
    import shutil

    import zarr

    from pdegen.train.dataset import train_moments
    copy = tmp_path / "partial.zarr"
    shutil.copytree(store, copy)
    group = zarr.open_group(str(copy), mode="r+")
    stored = group.attrs["normalization"]
    del group.attrs["normalization"]
    for name in ("inputs/coefficient", "outputs/solution"):
        computed = train_moments(open_dataset(copy), name)
        assert computed["count"] == stored[name]["count"]
        assert abs(computed["mean"] / stored[name]["mean"] - 1) < 1e-12
        assert abs(computed["std"] / stored[name]["std"] - 1) < 1e-12
    data, reference = PDEDataset(copy, "val"), PDEDataset(store, "val")
    assert torch.allclose(data.output_normalizer.mean, reference.output_normalizer.mean, rtol=1e-12)
    assert torch.allclose(data.output_normalizer.std, reference.output_normalizer.std, rtol=1e-12)
    assert float(data.output_normalizer.std) != 1.0  # not the identity it used to fall back to


def test_training_on_a_partial_store_computes_its_statistics_once(store, tmp_path, monkeypatch):
    """train() hands the train split's statistics to the val and test datasets: each field's
    train rows are read once, not once per split, and all splits normalise alike."""
    import shutil

    import zarr

    import pdegen.train.dataset as dataset
    from pdegen.train.loop import train
    copy = tmp_path / "partial.zarr"
    shutil.copytree(store, copy)
    del zarr.open_group(str(copy), mode="r+").attrs["normalization"]
    calls, real = [], dataset.train_moments
    monkeypatch.setattr(dataset, "train_moments", lambda ds, name: calls.append(name) or real(ds, name))
    train(copy, epochs=1, batch_size=8, device="cpu", out=tmp_path / "run", modes=4, width=8)
    assert len(calls) == len(set(calls)) and {"inputs/coefficient", "outputs/solution"} <= set(calls)
    reference = PDEDataset(store, "test")  # the complete store's stored statistics
    given = PDEDataset(copy, "test", statistics=PDEDataset(copy, "train").statistics)
    assert torch.allclose(given.output_normalizer.std, reference.output_normalizer.std, rtol=1e-12)


def test_batches_are_written_once_and_handed_on_without_a_copy(store, monkeypatch):
    from pdegen.train.dataset import _stack
    data = PDEDataset(store, "train", coordinates=True)
    items = data.__getitems__([3, 1, 4])
    x, y = _stack(items)
    assert x.shape == (3, 4, 16, 16) and x.data_ptr() == items[0][0].data_ptr()  # the items are views of x
    x2, y2 = _stack(list(items))  # a plain list of items is stacked
    assert torch.equal(x, x2) and torch.equal(y, y2) and x2.data_ptr() != x.data_ptr()
    raw_x, raw_y = PDEDataset(store, "train", coordinates=True, normalize=False).batch([3, 1, 4])
    assert torch.equal(data.input_normalizer.encode(raw_x[:, :2]), x[:, :2])  # encode_ is encode, bit for bit
    assert torch.equal(data.output_normalizer.encode(raw_y), y) and torch.equal(raw_x[:, 2:], x[:, 2:])
    assert not x.is_shared()
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: object())  # as in a DataLoader worker
    xw, yw = data.batch([3, 1, 4])
    assert xw.is_shared() and yw.is_shared() and torch.equal(xw, x) and torch.equal(yw, y)
    xb, yb = PDEDataset(store, "train", coordinates=True, dtype=torch.bfloat16).batch([3, 1, 4])
    assert xb.dtype == yb.dtype == torch.bfloat16 and torch.equal(xb, x.to(torch.bfloat16))


def test_a_trajectory_becomes_output_channels(tmp_path):
    recipe = small_recipe(tmp_path, **{"family": "heat", "samples": 6, "name": "heat",
                                       "output.path": str(tmp_path / "heat.zarr"),
                                       "parameters.initial": {"dist": "grf", "alpha": 2.5, "tau": 7.0},
                                       "discretization": {"t_end": 0.01, "steps": 4, "save_every": 1}})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    data = PDEDataset(tmp_path / "heat.zarr", None, normalize=False, subsample=2)
    stored = open_dataset(tmp_path / "heat.zarr")["outputs/solution"][:]
    assert data.out_channels == stored.shape[1] >= 4
    x, y = data.batch([0, 5])
    assert y.shape == (2, stored.shape[1], 8, 8)
    assert torch.equal(y, torch.from_numpy(stored[data.rows[[0, 5]]][:, :, ::2, ::2]))


def test_splits_come_from_the_store(store):
    ids = {split: set(PDEDataset(store, split).sample_ids()) for split in ("train", "val", "test")}
    ds = open_dataset(store)
    for code, split in enumerate(("train", "val", "test")):
        assert ids[split] == set(ds["sample_id"][:][ds["split"][:] == code])
    assert not ids["train"] & ids["test"] and sum(map(len, ids.values())) == 64


def test_subsampling_and_coordinates(store):
    data = PDEDataset(store, "train", subsample=2, coordinates=True, normalize=False)
    x, y = data[0]
    assert x.shape == (4, 8, 8) and y.shape == (1, 8, 8)
    assert torch.allclose(x[2, :, 0], torch.linspace(0, 1, 16)[::2])
    raw = PDEDataset(store, "train", normalize=False)
    assert torch.equal(raw[0][0][0, ::2, ::2], x[0])


def test_loader_with_two_workers_matches_single_process(store):
    data = PDEDataset(store, "train")
    serial = list(make_loader(data, batch_size=8, shuffle=False, num_workers=0))
    parallel = list(make_loader(data, batch_size=8, shuffle=False, num_workers=2))
    assert len(serial) == len(parallel)
    for (x1, y1), (x2, y2) in zip(serial, parallel):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


@pytest.mark.parametrize("on_device, normalization", [(False, "field"), (True, "field"), (False, "pointwise")])
def test_short_training_lowers_the_loss_fivefold(store, tmp_path, on_device, normalization):
    from pdegen.train.loop import train
    metrics = train(store, epochs=40, batch_size=8, lr=5e-3, device="cpu", out=tmp_path / "run", modes=6,
                    width=16, layers=3, progress=False, log=lambda *_: None, data_on_device=on_device,
                    normalization=normalization)
    losses = [row["train"]["loss"] for row in metrics["history"]]
    assert losses[-1] <= losses[0] / 5, losses
    assert metrics["data_on_device"] is on_device and metrics["cuda_graph"] is False
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / "best.pt").is_file()
    assert "test" in metrics and np.isfinite(metrics["test"]["rel_l2"])


def test_spectral_convolutions_leave_bfloat16_autocast(monkeypatch):
    """cuFFT has no bfloat16 transforms (training crashed on a GPU): simulate that on
    the CPU; the model's spectral convolutions must transform in float32."""
    from pdegen.train.loop import make_model
    real_rfftn = torch.fft.rfftn

    def rfftn_without_bfloat16(x, *args, **kwargs):
        if x.dtype == torch.bfloat16:
            raise RuntimeError("Unsupported dtype BFloat16")
        return real_rfftn(x, *args, **kwargs)
    monkeypatch.setattr(torch.fft, "rfftn", rfftn_without_bfloat16)
    net = make_model("fno", 3, 1, 2, modes=4, width=8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(torch.randn(2, 3, 16, 16))
    assert y.shape == (2, 1, 16, 16) and torch.isfinite(y.float()).all()


def test_domain_padding_keeps_the_grid_and_changes_the_map():
    """FNO's domain padding (for data that is not periodic) pads before the Fourier
    layers and crops after them: the output has the input's grid, odd sizes included,
    and the map differs from the unpadded one with the same weights."""
    from pdegen.train.loop import make_model
    torch.manual_seed(0)
    plain = make_model("fno", 3, 1, 2, modes=4, width=8)
    padded = make_model("fno", 3, 1, 2, modes=4, width=8, padding=0.2)
    padded.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 17, 23)
    y_plain, y_padded = plain(x), padded(x)
    assert y_padded.shape == y_plain.shape == (2, 1, 17, 23)
    assert not torch.allclose(y_plain, y_padded, atol=1e-4)


def test_a_copied_model_uses_its_own_spectral_weights():
    import copy

    from neuralop.layers.spectral_convolution import SpectralConv

    from pdegen.train.loop import make_model
    net = make_model("fno", 3, 1, 2, modes=4, width=8)
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for module in twin.modules():
            if isinstance(module, SpectralConv):
                for parameter in module.parameters():
                    parameter.mul_(2.0)
    x = torch.randn(2, 3, 16, 16)
    assert not torch.allclose(net(x), twin(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("workers, on_device, graph", [(0, False, False), (2, False, True), (0, True, True)])
def test_cuda_training_with_autocast_lowers_the_loss(store, tmp_path, workers, on_device, graph):
    """bfloat16 autocast on CUDA (spectral convolutions kept in float32: cuFFT has no
    bfloat16), with the batches made in the main process, in workers or on the device,
    and the step eager or a CUDA graph."""
    from pdegen.train.loop import train
    metrics = train(store, epochs=40, batch_size=8, lr=5e-3, device="cuda", num_workers=workers,
                    out=tmp_path / "gpu", modes=6, width=16, layers=3, progress=False, log=lambda *_: None,
                    data_on_device=on_device, cuda_graph=graph)
    assert metrics["device"].startswith("cuda")
    assert metrics["data_on_device"] is on_device and metrics["cuda_graph"] is graph
    losses = [row["train"]["loss"] for row in metrics["history"]]
    assert losses[-1] <= losses[0] / 5, losses
    assert np.isfinite(metrics["test"]["rel_l2"])


def _row_indices(batches, full):
    """Index in ``full`` of every row of the concatenated ``batches`` (rows are distinct)."""
    rows = torch.cat([x for x, _ in batches]).flatten(1)
    match = (rows[:, None, :] == full.flatten(1)[None, :, :]).all(dim=2)
    assert bool((match.sum(dim=1) == 1).all())
    return match.int().argmax(dim=1).tolist()


def test_resident_batches_hold_the_dataset_and_shuffle_each_pass(store):
    from pdegen.train.resident import ResidentBatches, split_bytes
    data = PDEDataset(store, "train", coordinates=True)
    x_all, y_all = data.batch(np.arange(len(data)))
    ordered = ResidentBatches(data, 5, torch.device("cpu"), shuffle=False, read_batch=7)
    assert torch.equal(ordered.x, x_all) and torch.equal(ordered.y, y_all)
    assert split_bytes(data) == ordered.x.nbytes + ordered.y.nbytes
    assert _row_indices(list(ordered), x_all) == list(range(len(data))) and len(ordered) == -(-len(data) // 5)
    shuffled = ResidentBatches(data, 5, torch.device("cpu"), seed=1)
    passes = [list(shuffled), list(shuffled)]
    orders = [_row_indices(batches, x_all) for batches in passes]
    for batches, order in zip(passes, orders):
        assert sorted(order) == list(range(len(data))) and len(batches) == len(shuffled)
        for x, y in batches:  # pairs stay pairs
            assert torch.equal(y, y_all[_row_indices([(x, y)], x_all)])
    assert orders[0] != orders[1] and orders[0] != list(range(len(data)))


def test_training_options_are_checked(store, tmp_path):
    from pdegen.train.loop import train
    from pdegen.train.resident import fits_on_device
    assert not fits_on_device([PDEDataset(store, "train")], torch.device("cpu"))
    with pytest.raises(ValueError, match="data_on_device must be 'auto', True or False; got 'gpu'"):
        train(store, epochs=1, device="cpu", out=tmp_path, data_on_device="gpu")
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device; the device is cpu"):
        train(store, epochs=1, device="cpu", out=tmp_path, cuda_graph=True)
    with pytest.raises(ValueError, match="model must be 'fno'; got 'unet'"):
        train(store, epochs=1, device="cpu", out=tmp_path, model="unet")
    with pytest.raises(ValueError, match=r"padding must be a fraction of the domain in \[0, 1\); got 1.5"):
        train(store, epochs=1, device="cpu", out=tmp_path, padding=1.5)
    with pytest.raises(ValueError, match="normalization must be one of field, pointwise; got 'minmax'"):
        train(store, epochs=1, device="cpu", out=tmp_path, normalization="minmax")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device cuda: no CUDA device is available"):
            train(store, epochs=1, device="cuda", out=tmp_path)
    torch.save({"model": {}}, tmp_path / "last.pt")  # weights only, as an older pdegen saved them
    with pytest.raises(ValueError, match="last.pt holds no training state"):
        train(store, epochs=1, device="cpu", out=tmp_path, resume=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_graph_steps_follow_the_eager_steps(store, amp):
    """The same model, batches and schedule trained eagerly and through the captured graph
    (3 warm-up steps, capture, replays, one partial batch taking the eager path)."""
    from pdegen.train.graphed import GraphedStep, capturable_adamw
    from pdegen.train.loop import make_model, one_cycle, step
    data = PDEDataset(store, "train", coordinates=True)
    batches = [(x.cuda(), y.cuda()) for x, y in make_loader(data, 8, shuffle=False)][:4]
    batches = batches * 2 + [(batches[0][0][:5], batches[0][1][:5])] + batches[1:3]
    decode = copy.deepcopy(data.output_normalizer).to("cuda")
    losses = {}
    for mode in ("eager", "graph"):
        torch.manual_seed(0)
        net = make_model("fno", data.in_channels, data.out_channels, 2, modes=6, width=16).cuda()
        optimizer = capturable_adamw(net.parameters(), lr=3e-3)
        scheduler = one_cycle(optimizer, 3e-3, len(batches))
        if mode == "graph":
            train_step = GraphedStep(net, decode, optimizer, scheduler, use_amp=amp)
            losses[mode] = [float(train_step(x, y)[0]) for x, y in batches]
            assert train_step.replays == len(batches) - 3 - 1  # warm-up 3, one partial batch
        else:
            losses[mode] = [float(step(net, x, y, decode, amp, optimizer, scheduler)[0]) for x, y in batches]
    tolerance = 2e-2 if amp else 1e-3
    assert np.allclose(losses["graph"], losses["eager"], rtol=tolerance), losses
    assert losses["graph"][-1] < losses["graph"][0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_step_agrees_with_float32(store):
    from pdegen.train.loop import make_model, step
    data = PDEDataset(store, "train")
    x, y = (t.cuda() for t in next(iter(make_loader(data, 8, shuffle=False))))
    torch.manual_seed(0)
    net = make_model("fno", data.in_channels, data.out_channels, 2, modes=6, width=16).cuda()
    decode = data.output_normalizer.to("cuda")
    mixed, _ = step(net, x, y, decode, use_amp=True)
    full, _ = step(net, x, y, decode, use_amp=False)
    assert abs(float(mixed) - float(full)) <= 2e-2 * float(full)


def test_chunk_shuffle_sampler_covers_every_item_once_per_epoch(store):
    from pdegen.train.dataset import ChunkShuffleSampler
    data = PDEDataset(store, None)  # all 64 rows, chunks of 8
    sampler = ChunkShuffleSampler(data, batch_size=5, pool_chunks=2, seed=3)
    chunk_of = data.chunk_of_rows()
    epochs = [list(sampler), list(sampler)]
    for batches in epochs:
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(data))) and len(batches) == len(sampler)
        assert all(len(set(chunk_of[b])) <= 4 for b in batches)  # at most two pools of two chunks
        assert len(batches) == -(-len(data) // 5)  # the same count every epoch (LR schedules rely on it)
    assert epochs[0] != epochs[1]  # reshuffled every epoch


def test_choosing_fields_by_name(store):
    data = PDEDataset(store, "train", inputs=["forcing"], outputs=["solution"], normalize=False)
    assert data.inputs == ["params/forcing"] and data.outputs == ["outputs/solution"] and data.in_channels == 1
    with pytest.raises(KeyError, match="inputs/viscosity not in the store; available inputs: inputs/coefficient"):
        PDEDataset(store, "train", inputs=["inputs/viscosity"])


def test_default_workers_follow_the_device():
    from pdegen.train.loop import default_workers
    assert default_workers(torch.device("cpu"), cpu_count=16) == 0
    assert default_workers(torch.device("cuda"), cpu_count=16) == 4
    assert default_workers(torch.device("cuda"), cpu_count=2) == 1


def test_cli_train_on_what_is_not_a_store_says_so_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(main, ["train", str(tmp_path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "Invalid value for STORE" in result.output and "not a pdegen store" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_cli_train_records_its_workers(store, tmp_path):
    import json
    result = CliRunner().invoke(main, ["train", str(store), "--epochs", "1", "--batch-size", "16", "--device", "cpu",
                                       "--modes", "4", "--width", "8", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["num_workers"] == 0 and metrics["device"] == "cpu"


def test_cli_train_holds_the_data_on_the_device_when_asked(store, tmp_path):
    import json
    result = CliRunner().invoke(main, ["train", str(store), "--epochs", "1", "--batch-size", "16", "--device", "cpu",
                                       "--modes", "4", "--width", "8", "--data-on-device", "yes",
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data_on_device"] is True and metrics["cuda_graph"] is False
    if importlib.util.find_spec("matplotlib"):  # installed with pdegen[train]: the learning curves too
        from pdegen.plot import plot_learning_curves
        assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
        series = plot_learning_curves(metrics, tmp_path / "again.png")
        assert series["train"] == [row["train"]["rel_l2"] for row in metrics["history"]]
        assert series["test"] == metrics["test"]["rel_l2"]
        replot = CliRunner().invoke(main, ["plot", str(tmp_path / "run"), "--out", str(tmp_path / "cli.png")])
        assert replot.exit_code == 0 and (tmp_path / "cli.png").stat().st_size > 1000, replot.output
    refused = CliRunner().invoke(main, ["train", str(store), "--epochs", "1", "--device", "cpu", "--cuda-graph",
                                        "--out", str(tmp_path / "graph")])
    assert refused.exit_code != 0 and "cuda_graph=True needs a CUDA device; the device is cpu" in refused.output
    assert "Traceback" not in refused.output


@pytest.mark.parametrize("on_device", [False, True])
def test_an_interrupted_run_resumes_to_the_same_result(store, tmp_path, on_device):
    """Stopped after epoch 2 of 4 and resumed: the same history, weights and test error as
    four epochs in one go (model, optimizer, schedule, shuffles and random state restored)."""
    from pdegen.train.loop import train
    settings = dict(epochs=4, batch_size=8, lr=5e-3, device="cpu", modes=4, width=8, layers=2, progress=False,
                    data_on_device=on_device)
    whole = train(store, out=tmp_path / "whole", log=lambda *_: None, **settings)

    def stop_after_epoch_2(line):
        if line.startswith("epoch   2"):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(store, out=tmp_path / "split", log=stop_after_epoch_2, **settings)
    assert torch.load(tmp_path / "split" / "last.pt", weights_only=False)["epoch"] == 2
    lines = []
    resumed = train(store, out=tmp_path / "split", log=lines.append, resume=True, **settings)
    assert lines[0] == f"resuming {tmp_path / 'split'} after epoch 2 of 4"
    strip = [{k: v for k, v in part.items() if k != "samples_per_s"} for row in resumed["history"]
             for part in (row["train"], row.get("val", {}))]
    expected = [{k: v for k, v in part.items() if k != "samples_per_s"} for row in whole["history"]
                for part in (row["train"], row.get("val", {}))]
    assert strip == expected and resumed["test"]["rel_l2"] == whole["test"]["rel_l2"]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)
    with pytest.raises(ValueError, match=r"trained with other settings \(lr 0.005 -> 0.001\)"):
        train(store, out=tmp_path / "split", log=lambda *_: None, resume=True, **{**settings, "lr": 1e-3})
    with pytest.raises(ValueError, match=r"trained with other settings \(padding 0.0 -> 0.1\)"):
        train(store, out=tmp_path / "split", log=lambda *_: None, resume=True, **{**settings, "padding": 0.1})
    with pytest.raises(ValueError, match=r"trained with other settings \(normalization 'field' -> 'pointwise'\)"):
        train(store, out=tmp_path / "split", log=lambda *_: None, resume=True,
              **{**settings, "normalization": "pointwise"})
    state = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    del state["config"]["padding"], state["config"]["normalization"]  # saved before these options: the defaults
    torch.save(state, tmp_path / "split" / "last.pt")
    again = train(store, out=tmp_path / "split", log=lambda *_: None, resume=True, **settings)
    assert len(again["history"]) == 4 and again["test"]["rel_l2"] == whole["test"]["rel_l2"]
    with pytest.raises(ValueError, match="nothing to resume"):
        train(store, out=tmp_path / "none", log=lambda *_: None, resume=True, **settings)


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_an_hdf5_store_written_in_parts_loads_the_same_rows(tmp_path):
    """Two process groups write an HDF5 store as part files behind virtual datasets,
    which have no chunks of their own: the loader must still know the chunking (it
    crashed in the chunk-aware sampler, and cached blocks of varying size under one key)."""
    import subprocess
    import sys

    import h5py
    store = tmp_path / "parts.h5"
    recipe = small_recipe(tmp_path, **{"samples": 40, "output.chunk_samples": 4, "output.format": "hdf5",
                                       "output.path": str(store)})
    result = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "pdegen.cli", "build",
                             str(write_recipe(tmp_path, recipe)), "-q"], capture_output=True, text=True, timeout=120,
                            env=mpi_env())
    assert result.returncode == 0, (result.stdout, result.stderr)
    with h5py.File(store) as f:
        assert f["outputs/solution"].is_virtual
        reference = f["outputs/solution"][:]
    for split in ("train", "val"):
        data = PDEDataset(store, split, normalize=False)
        assert data.rows_per_chunk == 4
        seen = []
        for x, y in make_loader(data, batch_size=7, shuffle=split == "train", num_workers=0):
            for item in y[:, 0].numpy():  # each item is one of this split's stored rows
                matches = np.flatnonzero([np.array_equal(item, reference[r]) for r in data.rows])
                assert matches.size == 1
                seen.append(int(data.rows[matches[0]]))
        assert sorted(seen) == sorted(data.rows.tolist())  # every row once per pass


# Trajectories: the first states as inputs (FNO's Navier–Stokes task), predicted at once, rolled out or in space-time.

@pytest.fixture(scope="module")
def heat_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("heat")
    recipe = small_recipe(tmp, **{"family": "heat", "samples": 24, "name": "heat", "output.chunk_samples": 8,
                                  "output.path": str(tmp / "heat.zarr"),
                                  "parameters.initial": {"dist": "grf", "alpha": 2.5, "tau": 7.0},
                                  "discretization": {"t_end": 0.012, "steps": 6, "save_every": 1}})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    return tmp / "heat.zarr"


def test_a_history_moves_the_first_states_to_the_inputs(heat_store):
    stored = open_dataset(heat_store)
    states, initial = stored["outputs/solution"][:], stored["inputs/initial"][:]
    assert states.shape[1] == 6
    raw = PDEDataset(heat_store, "train", normalize=False, coordinates=True, history=2, horizon=3)
    assert raw.inputs == ["inputs/coefficient", "inputs/initial"]
    assert (raw.in_channels, raw.data_channels, raw.out_channels) == (6, 4, 3)
    x, y = raw.batch([0, 3])
    rows = raw.rows[[0, 3]]
    assert torch.equal(x[:, 1], torch.from_numpy(initial[rows]))
    assert torch.equal(x[:, 2:4], torch.from_numpy(states[rows, :2]))
    assert torch.equal(y, torch.from_numpy(states[rows, 2:5]))
    assert torch.allclose(x[0, 4, :, 0], torch.linspace(0, 1, 16))  # coordinates after the states
    # Normalised: the history and the targets of one field with the same mean and std.
    normed = PDEDataset(heat_store, "train", coordinates=True, history=2, horizon=3)
    xn, yn = normed.batch([0, 3])
    stats = stored.attrs["normalization"]["outputs/solution"]
    assert torch.allclose(xn[:, 2:4] * stats["std"] + stats["mean"], x[:, 2:4], atol=1e-5)
    assert torch.allclose(normed.output_normalizer.decode(yn), y, atol=1e-5)
    assert torch.equal(xn[:, 4:], x[:, 4:])  # coordinates are not normalised
    rest = PDEDataset(heat_store, "train", normalize=False, history=4)
    assert rest.out_channels == 2 and torch.equal(rest.batch([1])[1], torch.from_numpy(states[rest.rows[[1]], 4:]))


def test_pointwise_statistics_cover_the_history_channels(heat_store):
    data = PDEDataset(heat_store, "train", pointwise=True, history=2, coordinates=True)
    mean, std = data.statistics["pointwise"]["inputs"]
    assert mean.shape == (4, 16, 16)
    states = open_dataset(heat_store)["outputs/solution"][:][data.rows]
    assert np.allclose(mean[2:].numpy(), states[:, :2].mean(0), atol=1e-6)
    assert np.allclose(std[2:].numpy(), states[:, :2].std(0), rtol=1e-3, atol=1e-6)
    x, _ = data.batch(range(len(data)))
    assert abs(float(x[:, 2:4].mean())) < 1e-5 and torch.equal(x[:, 4:], PDEDataset(
        heat_store, "train", normalize=False, history=2, coordinates=True).batch(range(len(data)))[0][:, 4:])


def test_history_and_horizon_are_checked(store, heat_store):
    with pytest.raises(ValueError, match="history 2: outputs/solution is not a trajectory"):
        PDEDataset(store, "train", history=2)
    with pytest.raises(ValueError, match="history must be an integer from 1 to 5 .* got 6"):
        PDEDataset(heat_store, "train", history=6)
    with pytest.raises(ValueError, match="horizon must be an integer from 1 to 4 .* got 5"):
        PDEDataset(heat_store, "train", history=2, horizon=5)
    with pytest.raises(ValueError, match="horizon 3 needs a history"):
        PDEDataset(heat_store, "train", horizon=3)


class _Extrapolate(torch.nn.Module):
    """Next state of field f = its last state + (f + 1) x the static channel: a linear
    trend per field, continued exactly, and fed only what the window holds."""

    def __init__(self, static, fields, history):
        super().__init__()
        self.static, self.fields, self.history = static, fields, history

    def forward(self, x):
        assert x.shape[1] == self.static + self.fields * self.history + 2  # the coordinates pass through
        last = [x[:, self.static + f * self.history + self.history - 1] for f in range(self.fields)]
        return torch.stack([last[f] + (f + 1) * x[:, 0] for f in range(self.fields)], dim=1)


def test_a_rollout_feeds_each_prediction_back_and_lays_out_the_states_as_the_dataset_does():
    from pdegen.train.rollout import Rollout
    generator = torch.Generator().manual_seed(0)
    batch, fields, history, horizon = 3, 2, 3, 5
    slope = torch.randn(batch, 1, 8, 8, generator=generator, dtype=torch.float64)
    start = torch.randn(batch, fields, 1, 8, 8, generator=generator, dtype=torch.float64)
    times = torch.arange(history + horizon, dtype=torch.float64).view(1, 1, -1, 1, 1)
    trend = start + times * slope.unsqueeze(1) * torch.arange(1, fields + 1, dtype=torch.float64).view(1, -1, 1, 1, 1)
    coords = torch.zeros(batch, 2, 8, 8, dtype=torch.float64)
    x = torch.cat([slope, trend[:, :, :history].flatten(1, 2), coords], dim=1)
    net = Rollout(_Extrapolate(1, fields, history), static=1, fields=fields, history=history, horizon=horizon)
    prediction = net(x)
    assert prediction.shape == (batch, fields * horizon, 8, 8)
    assert torch.allclose(prediction, trend[:, :, history:].flatten(1, 2), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="history, horizon and fields >= 1"):
        Rollout(_Extrapolate(1, 1, 0), static=1, fields=1, history=0, horizon=2)


@pytest.mark.parametrize("scheme, wrapped", [("at-once", None), ("rollout", "step"), ("space-time", "net")])
def test_training_on_a_history_lowers_the_loss(heat_store, tmp_path, scheme, wrapped):
    from pdegen.train.loop import train
    settings = dict(epochs=30, batch_size=4, lr=5e-3, device="cpu", modes=4, width=12, layers=2, progress=False,
                    history=2, scheme=scheme)
    metrics = train(heat_store, out=tmp_path / "run", log=lambda *_: None, **settings)
    losses = [row["train"]["loss"] for row in metrics["history"]]
    assert losses[-1] <= losses[0] / 4, losses
    assert np.isfinite(metrics["test"]["rel_l2"])
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=False)
    assert best["config"]["history"] == 2 and best["config"]["horizon"] == 4 and best["config"]["scheme"] == scheme
    owners = {key.split(".")[0] for key in best["model"] if key != "_metadata"}
    assert owners == {wrapped} if wrapped else not owners & {"step", "net"}, owners
    again = train(heat_store, out=tmp_path / "run", log=lambda *_: None, resume=True, **settings)  # loads both
    assert again["test"]["rel_l2"] == metrics["test"]["rel_l2"] and len(again["history"]) == 30
    with pytest.raises(ValueError, match=r"trained with other settings \(history 2 -> 3; horizon 4 -> 3\)"):
        train(heat_store, out=tmp_path / "run", log=lambda *_: None, resume=True, **{**settings, "history": 3})


def test_space_time_repeats_the_inputs_along_time_and_lays_out_the_states_as_the_dataset_does():
    """A network that returns, per field f, channel f of its input times (1 + the time
    channel): the result must be each input channel repeated along time, scaled by
    1 + t_h with t_h = h / (horizon - 1), in the dataset's (field, time) channel order."""
    from pdegen.train.space_time import SpaceTime

    class Scale(torch.nn.Module):
        def forward(self, x):
            assert x.shape[1:] == (4, 6, 6, 5)  # 3 channels and the time, a time axis of the horizon
            return x[:, :2] * (1 + x[:, 3:4])
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    y = SpaceTime(Scale(), fields=2, horizon=5)(x)
    times = torch.linspace(0, 1, 5, dtype=torch.float64)
    expected = torch.stack([x[:, f, None] * (1 + times.view(1, 5, 1, 1)) for f in range(2)], dim=1).flatten(1, 2)
    assert y.shape == (2, 10, 6, 6) and torch.allclose(y, expected, rtol=0, atol=1e-15)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_rollout_trains_as_a_cuda_graph_under_autocast(heat_store, tmp_path):
    """The rollout's window keeps float32 while the step returns bfloat16, and the whole
    rollout is captured as one graph."""
    from pdegen.train.loop import train
    metrics = train(heat_store, epochs=30, batch_size=4, lr=5e-3, device="cuda", out=tmp_path / "gpu", modes=4,
                    width=12, layers=2, progress=False, log=lambda *_: None, history=2, scheme="rollout",
                    data_on_device=True, cuda_graph=True)
    assert metrics["cuda_graph"] is True, metrics["cuda_graph_error"]
    losses = [row["train"]["loss"] for row in metrics["history"]]
    assert losses[-1] <= losses[0] / 4, losses


def test_schemes_are_checked(store, heat_store, tmp_path):
    from pdegen.train.loop import train
    with pytest.raises(ValueError, match="scheme must be one of at-once, rollout, space-time; got 'fno3d'"):
        train(heat_store, epochs=1, device="cpu", out=tmp_path, scheme="fno3d")
    with pytest.raises(ValueError, match="scheme 'rollout' predicts from the last `history` states: give history >= 1"):
        train(heat_store, epochs=1, device="cpu", out=tmp_path, scheme="rollout")
    with pytest.raises(ValueError, match="use normalization 'field', not 'pointwise'"):
        train(heat_store, epochs=1, device="cpu", out=tmp_path, scheme="rollout", history=2, normalization="pointwise")
    with pytest.raises(ValueError, match="scheme 'space-time' predicts along a time axis: outputs/solution holds one"):
        train(store, epochs=1, device="cpu", out=tmp_path, scheme="space-time")
    result = CliRunner().invoke(main, ["train", str(heat_store), "--history", "9", "-o", str(tmp_path / "cli")])
    assert result.exit_code == 1 and "history must be an integer from 1 to 5" in result.output


def test_a_runs_prediction_is_its_best_checkpoint_on_the_stored_sample(heat_store, tmp_path):
    """predict() rebuilds the model from the run's folder alone: over the test split its
    errors average to the test error the run recorded, and its targets are the stored
    states after the history."""
    from pdegen.train.loop import train
    from pdegen.train.predict import predict
    run = tmp_path / "run"
    metrics = train(heat_store, epochs=3, batch_size=4, device="cpu", out=run, modes=4, width=8, layers=2,
                    progress=False, log=lambda *_: None, history=2, horizon=3, scheme="space-time")
    stored = open_dataset(heat_store)
    test_ids = stored["sample_id"][:][stored["split"][:] == 2]
    results = [predict(run, int(i)) for i in test_ids]
    assert {r.split for r in results} == {"test"} and results[0].target.shape == (1, 3, 16, 16)
    assert np.isclose(np.mean([r.rel_l2 for r in results]), metrics["test"]["rel_l2"], rtol=1e-5)
    row = int(np.flatnonzero(stored["sample_id"][:] == test_ids[0])[0])
    assert np.allclose(results[0].target[0], stored["outputs/solution"][row, 2:5], rtol=1e-5, atol=1e-6)
    assert np.allclose(results[0].times, stored["coords/t"][2:5])
    error = np.linalg.norm(results[0].prediction - results[0].target) / np.linalg.norm(results[0].target)
    assert np.isclose(error, results[0].rel_l2, rtol=1e-5)
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(main, ["plot", str(run), "--sample", str(test_ids[0])])
    assert result.exit_code == 0, result.output
    assert f"{run / f'sample{test_ids[0]}.png'} (sample {test_ids[0]}, test split: relative L2" in result.output
    assert (run / f"sample{test_ids[0]}.png").stat().st_size > 10_000
    missing = CliRunner().invoke(main, ["plot", str(run), "--sample", "999"])
    assert missing.exit_code == 2 and "sample 999 is not a written sample" in missing.output
    curves = CliRunner().invoke(main, ["plot", str(run)])  # no --sample: the learning curves, as before
    assert curves.exit_code == 0 and "curves.png" in curves.output
    (run / "metrics.json").unlink()  # as a run stopped part-way leaves it: checkpoints only
    stopped = CliRunner().invoke(main, ["plot", str(run), "--sample", str(test_ids[0]), "-o", str(tmp_path / "s.png")])
    assert stopped.exit_code == 0 and (tmp_path / "s.png").is_file(), stopped.output


def test_a_prediction_plot_shows_target_prediction_and_difference_at_four_times(tmp_path):
    pytest.importorskip("matplotlib")
    from pdegen.plot import plot_prediction
    from pdegen.train.predict import Prediction
    target = np.random.default_rng(0).normal(size=(1, 9, 8, 8))
    result = Prediction("run", "store", 5, "val", ["outputs/solution"], target, target + 0.1, np.arange(1.0, 10.0),
                        [[0, 1], [0, 1]], 0.1)
    titles = plot_prediction(result, tmp_path / "p.png")
    assert titles[:3] == ["outputs/solution target t=1", "outputs/solution prediction t=1",
                          "outputs/solution prediction - target t=1"]
    assert [t.split("t=")[1] for t in titles[::3]] == ["1", "4", "6", "9"] and (tmp_path / "p.png").is_file()
    line = Prediction("run", "store", 5, "val", ["outputs/solution"], target[:, :2, :, 0], target[:, :2, :, 0],
                      None, [[0, 1]], 0.0)
    assert plot_prediction(line, tmp_path / "l.png") == ["outputs/solution", "outputs/solution"]


def test_failed_samples_stay_out_of_the_statistics_and_the_training_data(tmp_path, monkeypatch):
    """Two heat samples 'blow up' (a family's FloatingPointError: stored as NaN, failed).
    The build's normalisation is over the converged train rows alone, and training leaves
    the failed rows out and says so; with include_failed they are there (and NaN)."""
    from pdegen.families.heat import Heat
    from pdegen.train.loop import train
    calls, original = [0], Heat.trajectory

    def blows_up_twice(self, *args):
        calls[0] += 1
        if calls[0] in (3, 8):
            raise FloatingPointError("the flow blew up")
        return original(self, *args)
    monkeypatch.setattr(Heat, "trajectory", blows_up_twice)
    recipe = small_recipe(tmp_path, **{"family": "heat", "samples": 12, "name": "heat",
                                       "parameters.initial": {"dist": "grf", "alpha": 2.5, "tau": 7.0},
                                       "discretization": {"t_end": 0.01, "steps": 4, "save_every": 1}})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 1, result.output
    ds = open_dataset(tmp_path / "tiny.zarr")
    failed = ~ds["stats/converged"][:]
    assert failed.sum() == 2 and np.isnan(ds["outputs/solution"][:][failed]).all()
    keep = ds.split_mask("train") & ~failed
    states = ds["outputs/solution"][:][keep]
    stats = ds.attrs["normalization"]["outputs/solution"]
    assert stats["count"] == states.size and np.isclose(stats["mean"], states.mean(), rtol=1e-10)
    assert np.isclose(stats["std"], states.std(), rtol=1e-8)
    data = PDEDataset(tmp_path / "tiny.zarr", None)
    assert len(data) == 10 and data.failed_left_out == 2 and not failed[data.rows].any()
    assert torch.isfinite(data.batch(range(10))[1]).all()
    assert len(PDEDataset(tmp_path / "tiny.zarr", None, include_failed=True)) == 12
    import zarr
    older = {**stats, "mean": float("nan"), "std": float("nan")}  # as a build before this fix wrote it
    group = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    group.attrs["normalization"] = {**ds.attrs["normalization"], "outputs/solution": older}
    assert np.isnan(open_dataset(tmp_path / "tiny.zarr").attrs["normalization"]["outputs/solution"]["mean"])
    again = PDEDataset(tmp_path / "tiny.zarr", "train").statistics["outputs/solution"]
    assert np.isclose(again["mean"], states.mean(), rtol=1e-10) and np.isclose(again["std"], states.std(), rtol=1e-8)
    lines = []
    metrics = train(tmp_path / "tiny.zarr", epochs=1, batch_size=4, device="cpu", out=tmp_path / "run", modes=4,
                    width=8, layers=2, progress=False, log=lines.append)
    left_out = {split: int((failed & ds.split_mask(split)).sum()) for split in ("train", "val", "test")}
    expected = ", ".join(f"{split} {count}" for split, count in left_out.items() if count)
    assert f"2 failed samples (stats/converged false) left out ({expected}; " in lines[0]
    assert np.isfinite(metrics["history"][0]["train"]["loss"])


@pytest.mark.parametrize("total_steps", [1, 2, 3, 9, 10, 11, 19, 20, 400])
def test_the_one_cycle_schedule_takes_any_number_of_steps(total_steps):
    """PyTorch's OneCycleLR divided by zero at 10 steps with a 10% warm-up."""
    from pdegen.train.loop import one_cycle
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = one_cycle(optimizer, 1e-3, total_steps)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(total_steps - 1):
        optimizer.step()
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert max(rates) <= 1e-3 * (1 + 1e-12) and rates[-1] < 1e-3 / 100, rates
    if total_steps >= 3:
        assert rates[0] < max(rates)  # a warm-up
