"""``reslab train --dry-run``: the resolved configuration and schedule, without training.

It opens the data (decoding a small-image dataset into the cache, as the run would) to know
the iterations per epoch, and builds the model on the meta device for its size and depth.
"""

from __future__ import annotations

import yaml

from reslab.train.config import Length, TrainConfig, finalize


def plan_lines(config: TrainConfig, length: Length | None) -> list[str]:
    import torch

    from reslab.models import count_params, create_model
    from reslab.train.schedules import describe_schedule
    from reslab.train.session import cpu_loaders, model_options

    loaders = cpu_loaders(config)
    ipe = len(loaders.train)
    final = finalize(config, ipe, length)
    with torch.device("meta"):
        model = create_model(
            final.model.name, **model_options(final, len(loaders.classes), loaders.in_chans)
        )
    s, o = final.schedule, final.optim
    d = loaders.description
    lines = [
        "# reslab train --dry-run: the resolved configuration (config.yaml of the run)",
        yaml.safe_dump(final.to_dict(), sort_keys=False).rstrip(),
        "",
        f"# model: {final.model.name}, {count_params(model):,} parameters, depth {model.depth}",
        f"# data: {d['train_images']:,} training images / batch {o.batch_size} = {ipe:,} "
        f"iterations per epoch; {d['test_images']:,} test images",
        *(f"# schedule: {line}" for line in describe_schedule(s, o.lr, ipe, model.depth)),
        f"# evaluation every {final.run.eval_every or ipe:,} iterations, checkpoint every "
        f"{final.run.checkpoint_every:,}",
    ]
    if final.run.precision == "auto" or final.model.compile == "auto":
        lines.append(
            "# run.precision / model.compile 'auto' are resolved for the device when "
            "the run starts; its config.yaml records the choice"
        )
    return lines
