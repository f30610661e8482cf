"""Copy a checkpoint's best weights into a model without the optimizer's state.

``model.keras`` written during training carries Adam's moments (three times the weights);
inference needs none of it. Usage: ``python scripts/device/export_weights.py CKPT OUT.keras``.
"""

import json
import sys

import keras

import andi2kit.models.losses  # noqa: F401  (registers the losses the saved model names)
from andi2kit.models.attention_unet import UNetConfig, build_model

if __name__ == "__main__":
    ckpt, dest = sys.argv[1], sys.argv[2]
    best = keras.models.load_model(f"{ckpt}/model.keras", compile=False)
    cfg = json.loads(open(f"{ckpt}/config.json").read())
    bare = build_model(UNetConfig.from_dict(cfg["model"]))
    bare.set_weights(best.get_weights())
    bare.save(dest)
    print(f"exported {dest}: {bare.count_params()} parameters", flush=True)
