"""The documented top-level interface (README "Python interface")."""
import torch

import yolo12l


def test_readme_interface_round_trip():
    from yolo12l import build_model, convert_ultralytics_state_dict, postprocess

    net = build_model("yolo12n.yaml", nc=4)
    sd = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    net.load_state_dict(convert_ultralytics_state_dict(sd))
    net.eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, 96, 128))
    assert y.shape == (2, 8, 12 * 16 + 6 * 8 + 3 * 4)
    dets = postprocess(y, conf=0.0, iou=0.7, max_det=10)
    assert len(dets) == 2 and all(d.shape[1] == 6 and len(d) <= 10 for d in dets)
    assert set(yolo12l.__all__) >= {"build_model", "convert_ultralytics_state_dict", "postprocess",
                                    "load_ultralytics_checkpoint"}
