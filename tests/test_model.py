"""The network: encoder shapes, and the grid-extraction form of the decoder against the batched one."""

import pytest
import torch

from engine.model import IMDecNet, make_config


def small_net():
    torch.manual_seed(0)
    return IMDecNet(make_config(decoder_hidden=[32, 32, 16]))


@pytest.mark.parametrize("frequencies", [0, 4])
def test_point_fn_equals_the_batched_decoder(frequencies):
    torch.manual_seed(0)
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], point_frequencies=frequencies)).eval()
    assert net.decoder.layers[0].in_features == 3 + 6 * frequencies + 128
    z = torch.randn(2, 128)
    pts = torch.rand(2, 500, 3) - 0.5
    with torch.no_grad():
        full = net.decoder(z, pts)
        bound = net.decoder.point_fn(z[1])(pts[1])
    assert torch.allclose(full[1], bound, atol=1e-5)


def test_encoder_maps_a_prepared_image_to_a_128d_latent():
    net = small_net().eval()
    with torch.no_grad():
        z = net.encoder(torch.rand(3, 4, 128, 128))
    assert z.shape == (3, 128)


@pytest.mark.parametrize("trunk", [0, 4])  # the camera head on pooled features alone, or with a CNN of its own
def test_the_local_models_point_fn_equals_its_batched_forward(trunk):
    torch.manual_seed(0)
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], local_features=16, local_hidden=[32, 16],
                               camera_trunk=trunk)).eval()
    torch.nn.init.normal_(net.local.out.weight, std=0.1)  # the stream starts silent; make it speak
    images, points = torch.rand(1, 4, 128, 128), torch.rand(1, 800, 3) - 0.5
    with torch.no_grad():
        full, raw = net.predict(images, points)
        bound = net.point_fn(images)(points[0])
        global_only = net.decoder(net.encoder(images), points)
    assert raw.shape == (1, 2 * net.config["camera_bins"] + 5)  # azimuth sectors and offsets, then the rest
    assert torch.allclose(full[0], bound, atol=1e-5)
    assert (full - global_only).abs().max() > 1e-3  # the local stream adds something
    with torch.no_grad():
        assert torch.allclose(net.point_fn(images, global_only=True)(points[0]), global_only[0], atol=1e-5)
        # a given camera replaces the head's: the head's own camera gives the same field, another one does not
        from engine.camera import ImageCamera

        head = net.camera_head.camera(raw)
        assert torch.allclose(net.point_fn(images, camera=head)(points[0]), bound, atol=1e-5)
        turned = ImageCamera(head.azimuth + 1.0, head.elevation, head.distance, head.focal, head.origin)
        assert (net.point_fn(images, camera=turned)(points[0]) - bound).abs().max() > 1e-4


def test_a_new_local_stream_starts_silent_so_it_can_grow_from_a_global_model():
    torch.manual_seed(0)
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], local_features=16)).eval()
    images, points = torch.rand(2, 4, 128, 128), torch.rand(2, 300, 3) - 0.5
    with torch.no_grad():
        assert torch.equal(net(images, points), net.decoder(net.encoder(images), points))


def test_the_camera_gate_leaves_the_local_stream_out_where_the_camera_misses_the_mask():
    from engine.local import camera_agreement

    torch.manual_seed(0)
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], local_features=16, local_hidden=[32, 16])).eval()
    torch.nn.init.normal_(net.local.out.weight, std=0.1)
    images, points = torch.rand(1, 4, 128, 128), torch.rand(800, 3) - 0.5
    with torch.no_grad():
        full, global_only = net.point_fn(images)(points), net.point_fn(images, global_only=True)(points)
        camera = net.camera_head.camera(net.camera_outputs(images))
        agreement = camera_agreement(net.point_fn(images, global_only=True), images[0, 3], camera)
        assert 0 < agreement < 1
        assert torch.equal(net.point_fn(images, camera_gate=agreement)(points), full)       # at the gate: kept
        assert torch.equal(net.point_fn(images, camera_gate=min(1.0, agreement + 0.01))(points), global_only)
        net.config["camera_gate"] = 1.0                                                      # the config's gate
        assert torch.equal(net.point_fn(images)(points), global_only)
