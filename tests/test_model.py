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
