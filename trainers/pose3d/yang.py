"""Yang et al. (CVPR 2018, seed 003): 3D pose by adversarial learning, `synth train adversarial`.

The generator (trainers.models.adversarial.PoseGenerator: stacked hourglass heatmaps + depth
regression) is first trained alone on the pose loss for ``pretrain_steps`` steps (section 4.1).
Then every step updates the discriminator once and the generator once (section 4.2):

    D  L_D = BCE(D(image, ground-truth heatmaps, depth maps and descriptor), 1)
             + BCE(D(image, the generator's), 0)
    G  L_G = lambda_adv * BCE(D(image, the generator's), 1) + L_pose        (lambda_adv = 1e-4)

D is updated first, on the generator's outputs without their gradients; then G, through the
updated D with D's parameters frozen. The ground truth is our synthetic (3D-labelled) crops. The
paper's predictions come from both its 3D-labelled images and its 2D-labelled in-the-wild images;
our real domain is unlabelled real images (``real_data``: a video or an image folder, its frames'
random square crops), so real images only ever add predicted ("fake") samples: they enter L_D's
second term and L_G's adversarial term, never L_pose (the paper's in-the-wild images also had a
2D heatmap loss, which needs 2D labels we do not have). Without ``real_data`` the predictions come
from the synthetic images only.

What D and L_pose see: heatmaps of the joint set drawn with the paper's sigma of 1 heatmap pixel;
depths in heatmap pixels (the joints' camera z relative to the root divided by the crop's
weak-perspective scale, :func:`trainers.models.adversarial.pixel_scale`); poses, predicted and
ground truth alike, root-relative and sized alike: their spine, head and leg bones sum to the
training skeletons' mean (trainers.pose3d.joints.sizing_bones; so D judges proportions and
articulation, not a person's size, which the generator's scaling fixes). Predictions are those
poses in metres.

With ``augment``, besides the dataset's crop augmentation, half of each synthetic batch is mirrored
before its labels are drawn (:func:`trainers.pose3d.recipe.mirror_half`, as in Chen et al.'s
recipe; which samples flip is a function of (seed, step)). :func:`error_halves` tells which half of the pose, the heatmaps' 2D
positions or the depths, an error comes from.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from synth_core.errors import TrainingError
from trainers.config import TrainConfig
from trainers.data import RealImages
from trainers.data.targets import heatmaps as gaussian_heatmaps
from trainers.models.adversarial import (GeneratorOutput, MultiSourceDiscriminator, PoseGenerator, adversarial_loss,
                                         depth_loss, discriminator_inputs, discriminator_loss, generator_loss,
                                         heatmap_locations, heatmap_loss, pixel_scale)
from trainers.pose3d.joints import (bone_lengths_sum, get_joint_set, mirror_pairs, normalise_bones, root_relative,
                                    to_joint_set)
from trainers.pose3d.metrics import mpjpe
from trainers.pose3d.recipe import StepContext, mirror_half, set_trainable

HEATMAP_SIGMA = 1.0   # heatmap pixels: the paper's "variance ... an identity matrix"
ADVERSARIAL_KEYS = ("loss_adv", "loss_d", "d_real", "d_fake")   # logged from the adversarial stage on
FAR_PX = 3.0   # heatmap pixels: a 2D position this far off is a gross error (error_halves)
APART_PX = 2.0   # heatmap pixels: a left/right pair this far apart in 2D can be told apart (left_right_swaps)


@dataclasses.dataclass
class Labels:
    """A synthetic batch's targets, on the device, in the recipe's joint set."""
    heatmaps: torch.Tensor   # B x P x O x O
    depth: torch.Tensor      # B x P, heatmap pixels, root-relative
    pose: torch.Tensor       # B x P x 3, root-relative, scaled to the generator's size_length


class YangRecipe:
    task = "adversarial"
    joint_set = "chen17"
    score = "mpjpe_mm"

    # ------------------------------------------------------------------------ what it is made of

    def build(self, config: TrainConfig) -> dict[str, torch.nn.Module]:
        if config.inputs != "rgb":
            raise TrainingError(f"the adversarial task takes RGB images only (real images have no flow), "
                                f"not --inputs {config.inputs}")
        self.joint_set = config.joint_set or self.joint_set
        n_joints = len(get_joint_set(self.joint_set))
        generator = PoseGenerator(self.joint_set, stacks=config.stacks, features=config.features,
                                  modules=config.modules, depth=config.depth)
        discriminator = MultiSourceDiscriminator(n_joints, config.input_size, config.output_size,
                                                 width=max(8, config.features // 8),
                                                 embedding=max(32, config.features // 2))
        return {"generator": generator, "discriminator": discriminator}

    def optimizers(self, config: TrainConfig, modules: dict) -> dict[str, torch.optim.Optimizer]:
        from trainers.train import make_optimizer

        return {name: make_optimizer(config, module) for name, module in modules.items()}

    def datasets(self, config: TrainConfig):
        from trainers.train import make_datasets

        return make_datasets(config)   # the task's targets: heatmaps (for joints2d) and joints3d

    def real_dataset(self, config: TrainConfig):
        if not config.real_data:
            return None
        return RealImages(config.real_data, input_size=config.input_size, augment=config.augment, seed=config.seed)

    def calibrate(self, modules: dict, targets: torch.Tensor) -> None:
        """The training skeletons' mean summed length of the sizing bones: the size of every pose."""
        generator = modules["generator"]
        lengths = bone_lengths_sum(targets.double(), self.joint_set, generator.sizing_bones)
        generator.size_length.fill_(float(lengths.mean()))

    # ------------------------------------------------------------------------------ one step

    def train_step(self, modules: dict, optimizers: dict, batch: dict, real_batch: dict | None, step: int,
                   ctx: StepContext) -> dict[str, float]:
        generator, discriminator = modules["generator"], modules["discriminator"]
        if ctx.config.augment:
            batch = mirror_half(batch, ctx.generator(step))
        images = batch["image"].to(ctx.device, non_blocking=True)
        labels = self.labels(batch, generator, ctx.device)
        if step < ctx.config.pretrain_steps:
            with ctx.autocast():
                output = generator(images)
            losses = self.pose_losses(output, labels)
            ctx.optimise(losses["loss_pose"], optimizers["generator"])
            # the same keys in every step (train_log.csv's columns come from the first): None = no such term yet
            return {"loss": losses["loss_pose"].item(), **{name: value.item() for name, value in losses.items()},
                    **dict.fromkeys(ADVERSARIAL_KEYS)}

        fake_images = images
        if real_batch is not None:
            fake_images = torch.cat([images, real_batch["image"].to(ctx.device, non_blocking=True)])
        with ctx.autocast():
            output = generator(fake_images)
        losses = self.pose_losses(synthetic_part(output, len(images)), labels)
        fake = (fake_images, *discriminator_inputs(output.heatmaps[-1].float(), generator.pose(output)))
        real = (images, *discriminator_inputs(labels.heatmaps, labels.pose))
        d_stats = self.update_discriminator(discriminator, optimizers["discriminator"], real,
                                            tuple(x.detach() for x in fake), ctx)
        g_stats = self.update_generator(discriminator, optimizers["generator"], losses["loss_pose"], fake, ctx)
        return {**g_stats, **{name: value.item() for name, value in losses.items()}, **d_stats}

    def labels(self, batch: dict, generator: PoseGenerator, device: torch.device) -> Labels:
        """Heatmaps, depths and D's ground-truth poses (sized as the generator sizes its own) of a
        synthetic batch."""
        joints2d = to_joint_set(batch["joints2d"].float(), self.joint_set)    # heatmap pixels
        joints3d = self.target(batch).float()
        root = get_joint_set(self.joint_set).root
        size = batch["heatmaps"].shape[-1]
        maps = np.stack([gaussian_heatmaps(joints.numpy(), size, HEATMAP_SIGMA) for joints in joints2d])
        depth = joints3d[..., 2] / pixel_scale(joints2d, joints3d, root)[:, None]
        pose = normalise_bones(joints3d.to(device), self.joint_set, generator.size_length.to(device),
                               generator.sizing_bones)
        return Labels(torch.from_numpy(maps).to(device), depth.to(device), pose)

    def pose_losses(self, output: GeneratorOutput, labels: Labels) -> dict[str, torch.Tensor]:
        """Eq. (2): L_pose = heatmap term + depth term."""
        heatmap = heatmap_loss(output.heatmaps, labels.heatmaps)
        depth = depth_loss(output.depth, labels.depth)
        return {"loss_pose": heatmap + depth, "loss_heatmap": heatmap, "loss_depth": depth}

    def update_discriminator(self, discriminator, optimizer, real: tuple, fake: tuple, ctx: StepContext) -> dict:
        """One step of D on L_D; ``real`` and ``fake`` are (images, maps, descriptors)."""
        set_trainable(discriminator, True)
        with ctx.autocast():
            logits = discriminator(*(torch.cat([r, f]) for r, f in zip(real, fake)))
        real_logits, fake_logits = logits[:len(real[0])], logits[len(real[0]):]
        loss = discriminator_loss(real_logits, fake_logits)
        ctx.optimise(loss, optimizer)
        return {"loss_d": loss.item(), "d_real": torch.sigmoid(real_logits.detach().float()).mean().item(),
                "d_fake": torch.sigmoid(fake_logits.detach().float()).mean().item()}

    def update_generator(self, discriminator, optimizer, pose_loss: torch.Tensor, fake: tuple,
                         ctx: StepContext) -> dict:
        """One step of G on L_G, through D (frozen: its parameters get no gradients)."""
        set_trainable(discriminator, False)
        try:
            with ctx.autocast():
                logits = discriminator(*fake)
            loss = generator_loss(pose_loss, logits, ctx.config.lambda_adv)
            ctx.optimise(loss, optimizer)
        finally:
            set_trainable(discriminator, True)
        return {"loss": loss.item(), "loss_adv": adversarial_loss(logits.detach()).item()}

    # --------------------------------------------------------------------------- predictions

    def predict(self, modules: dict, batch: dict, ctx: StepContext) -> torch.Tensor:
        """B x P x 3 root-relative joints in metres (camera axes)."""
        generator = modules["generator"]
        with ctx.autocast():
            output = generator(batch["image"].to(ctx.device))
        return generator.pose(output).float()

    def target(self, batch: dict) -> torch.Tensor:
        """B x P x 3: the crop's joints3d in the joint set, root-relative, metres."""
        return root_relative(to_joint_set(batch["joints3d"], self.joint_set), self.joint_set)


def error_halves(recipe: YangRecipe, generator: PoseGenerator, batches: list[dict], seen: dict) -> dict:
    """Where the generator's error comes from, over ``batches`` (synthetic, labelled): each half of
    its pose (2D positions, depths) put together with the other half's truth, and the true 2D
    positions with the mean depth labels of ``seen`` (the training set, one batch, un-augmented:
    what its depths must beat), as MPJPE in mm; its 2D errors in heatmap pixels: the median and the
    share of joints more than FAR_PX off; and :func:`left_right_swaps` (whether it tells the
    person's left from right, i.e. which way they face). The generator must be in eval mode."""
    joint_set, cpu = recipe.joint_set, torch.device("cpu")
    mean_depths = recipe.labels(seen, generator, cpu).depth.mean(0)
    with torch.no_grad():
        parts = []
        for batch in batches:
            output = generator(batch["image"])
            labels = recipe.labels(batch, generator, cpu)
            target = recipe.target(batch).float()
            true_depths = generator.pose(GeneratorOutput(output.heatmaps, labels.depth))
            true_2d = generator.pose(GeneratorOutput([labels.heatmaps], output.depth))
            with_mean_depths = generator.pose(GeneratorOutput([labels.heatmaps], mean_depths.expand_as(labels.depth)))
            parts.append((true_depths, true_2d, with_mean_depths, target,
                          heatmap_locations(output.heatmaps[-1].float()),
                          to_joint_set(batch["joints2d"].float(), joint_set)))
    true_depths, true_2d, with_mean_depths, target, uv, true_uv = (torch.cat(p) for p in zip(*parts))
    off = (uv - true_uv).norm(dim=-1)
    return {"its_2d_true_depths": 1000 * float(mpjpe(true_depths, target)),
            "true_2d_its_depths": 1000 * float(mpjpe(true_2d, target)),
            "true_2d_mean_depths": 1000 * float(mpjpe(with_mean_depths, target)),
            "median_2d_px": float(off.median()), "far_share": float((off > FAR_PX).float().mean()),
            "swapped_share": left_right_swaps(uv, true_uv, joint_set)}


def left_right_swaps(uv: torch.Tensor, true_uv: torch.Tensor, joint_set: str) -> float:
    """Of the left and right joints (B x P x 2 predicted and true 2D positions) whose true mirror
    joint is at least APART_PX away, the share predicted nearer the mirror joint's position than
    their own: 0 when the left and right sides are told apart, 0.5 when they are guessed (a person
    seen from behind taken to face the camera swaps them all). Pairs closer than APART_PX (a
    person in profile) are left out: there a swap costs little and is not measured. NaN if none."""
    mirror = mirror_pairs(joint_set)
    sided = torch.tensor([m != k for k, m in enumerate(mirror)], device=uv.device)
    apart = ((true_uv - true_uv[:, mirror]).norm(dim=-1) >= APART_PX) & sided
    nearer_mirror = (uv - true_uv[:, mirror]).norm(dim=-1) < (uv - true_uv).norm(dim=-1)
    return float((nearer_mirror & apart).sum() / apart.sum()) if apart.any() else float("nan")


def synthetic_part(output: GeneratorOutput, count: int) -> GeneratorOutput:
    """The generator's outputs for the first ``count`` images (the synthetic ones)."""
    return GeneratorOutput([maps[:count] for maps in output.heatmaps], output.depth[:count])


RECIPE = YangRecipe
