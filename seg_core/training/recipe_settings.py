"""The training recipe's settings: what to train on, the network, the loss and optimiser, the
schedule, crops and augmentation, the machine. `TrainConfig` (training.config) adds the
fine-tune's lineage and labels to these; each field is declared once, with `setting(...)`
(seg_core.training.settings). Torch-free, like the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from seg_core.datasets.augment import AUGMENT_PRESETS
from seg_core.training import choices
from seg_core.training.choices import NAMED_WEIGHTS
from seg_core.training.settings import setting

# The largest crop side: the long side of a 45 MP mapping camera's photo (Harvey's have 4592). A
# crop larger than the photo is padded to its size, so a typo of 102400 for 1024 asked for a 31 GB
# crop, refused by the allocator inside the run, where a sentence at the start would have done.
# (The working resolution needs no bound: a photo smaller than it is kept as it is.)
LARGEST_SIDE = 8192


@dataclass(frozen=True)
class RecipeSettings:
    """The fields a run of any kind has, in the order runs save them (TrainConfig's come after)."""

    data: str = setting(
        "",
        "Dataset",
        "The dataset folder: train_images/ + train_masks/ (Harvey) or images/ + masks/.",
        "required: there is no sensible default dataset",
        group="hidden",
        allowed="a folder",
    )
    also_data: str = setting(
        "",
        "Second dataset",
        "Another dataset folder trained together with --data; its masks are read as --data's label "
        "scheme (through --mapping when its own scheme differs). Its masks are used in place, not frozen.",
        "one dataset unless asked",
        group="hidden",
        allowed="empty or a folder",
    )
    mapping: str = setting(
        "",
        "Class mapping",
        "A class-mapping .json file that reads --also-data's masks as --data's scheme: for each class of "
        "--data's scheme, the --also-data classes it stands for; classes it leaves out are ignored pixels.",
        "a dataset of another scheme is never read as this one without being told how",
        group="hidden",
        allowed="empty or a mapping .json file",
    )
    arch: str = setting(
        "fpn",
        "Architecture",
        "The network. U-Net (classic) is the study's from-scratch network; the others use a "
        "pretrained encoder.",
        "most accurate pretrained option measured, 1.5x DeepLabV3+'s CPU time (BENCHMARKS.md)",
        group="model",
        allowed="unet or an smp architecture (the form lists them)",
    )
    encoder: str = setting(
        "tu-efficientnet_lite0",
        "Encoder",
        "The backbone. EfficientNet-Lite0 is the fastest, with ImageNet weights available offline.",
        "3.4 M params, real ImageNet weights available offline",
        group="model",
        allowed="an encoder name (the form lists them); none for the classic U-Net",
    )
    weights: str = setting(
        "auto",
        "Pretrained weights",
        "Where the encoder's first weights come from: 'imagenet' downloads them; 'imagenet-offline' "
        "ships with StormSeg for EfficientNet-Lite0 only; 'auto' uses it where it exists, else random "
        "init; or a weights file.",
        "offline ImageNet for EfficientNet-Lite0, random init elsewhere: no download needed",
        group="model",
        choice_labels=choices.WEIGHTS_LABELS,
        allowed=f"{', '.join(NAMED_WEIGHTS)}, or a .pth/.pt/.safetensors file",
    )
    unet_base_width: int = setting(
        64,
        "Base width",
        "Classic U-Net only: channels of its first level; 32 is about 4x cheaper, 8 for a quick try.",
        "64 = the U-Net paper",
        group="model",
        minimum=1,
        step=8,
    )
    loss: str = setting(
        "ce_dice",
        "Loss",
        "What training minimises; weighted cross-entropy makes rare classes count more.",
        "CE for calibration + Dice for the score of record",
        group="model",
        choices=choices.LOSSES,
        choice_labels=choices.LOSS_LABELS,
    )
    class_weight_cap: float = setting(
        10.0,
        "Class-weight cap",
        "Weighted cross-entropy only: upper bound on the weight of a rare class.",
        "a class seen in a few pixels must not drown out the others",
        minimum=1.0,
        step=1.0,
    )
    ohem_share: float = setting(
        1.0,
        "Hardest pixels kept (OHEM)",
        "Online hard example mining: the cross-entropy term of ce, weighted_ce and ce_dice averages "
        "over only this share of each batch's pixels, those with the highest loss (Dice is left "
        "whole); 1 keeps every pixel.",
        "every pixel: not measured better than the plain loss on synthetic scenes (0.349 vs 0.353 mIoU "
        "on the selection group; benchmarks analysis, section 24)",
        minimum=0.01,
        maximum=1.0,
        step=0.05,
        format="%.2f",
    )
    optimizer: str = setting(
        "adamw",
        "Optimiser",
        "How the weights move; sgd uses momentum (Nesterov).",
        "Adam's step sizes with weight decay kept apart from the gradient",
        group="optimisation",
        choices=choices.OPTIMIZERS,
        choice_labels=choices.OPTIMIZER_LABELS,
    )
    lr: float = setting(
        1e-3,
        "Learning rate",
        "The peak learning rate, reached after the warm-up; the schedule changes it from there.",
        "the study's DeepLabV3+ rate; good for AdamW too",
        group="optimisation",
        minimum=1e-7,
        maximum=1.0,
        step=1e-4,
        format="%.6f",
    )
    weight_decay: float = setting(
        1e-4,
        "Weight decay",
        "Pulls weights towards zero at every step (not applied to norms and biases).",
        "light regularisation that leaves pretrained weights close to where they start",
        minimum=0.0,
        step=1e-4,
        format="%.5f",
    )
    momentum: float = setting(
        0.9,
        "Momentum",
        "SGD only: the share of the previous step kept in the next.",
        "the study's SGD momentum",
        minimum=0.0,
        maximum=1.0,
        step=0.05,
    )
    schedule: str = setting(
        "cosine",
        "Schedule",
        "How the learning rate changes over the epochs; cosine and poly decay to 1% of it, onecycle "
        "has its own warm-up.",
        "a smooth decay with nothing to tune",
        group="optimisation",
        choices=choices.SCHEDULES,
        choice_labels=choices.SCHEDULE_LABELS,
    )
    warmup_epochs: int = setting(
        1,
        "Warm-up epochs",
        "Linear learning-rate warm-up at the start (not with onecycle).",
        "protects pretrained weights early on",
        minimum=0,
    )
    epochs: int = setting(
        30,
        "Epochs",
        "Passes over the training split.",
        "the study's DeepLabV3+ run without augmentation trained 30",
        group="optimisation",
        minimum=1,
    )
    batch_size: int = setting(
        4,
        "Batch size",
        "Images per step (per process with several GPUs); at most the training split's size.",
        "fits CPU RAM at 512 px crops; a GPU out-of-memory error halves it",
        group="optimisation",
        minimum=1,
    )
    accumulation: int = setting(
        1,
        "Gradient accumulation",
        "Optimiser step every N batches: a larger effective batch without more memory.",
        "the default batch fits in memory as it is",
        minimum=1,
    )
    clip_grad_norm: float = setting(
        1.0,
        "Gradient clipping (norm)",
        "The largest gradient norm a step may apply; 0 disables clipping.",
        "guards against rare exploding steps",
        minimum=0.0,
        step=0.5,
    )
    crop: int = setting(
        512,
        "Crop (px)",
        "Side of the random square training crops, a multiple of 32; 0 trains on whole images.",
        "half the working resolution: a batch of 4 fits CPU RAM, and each epoch sees new parts",
        group="data",
        minimum=0,
        maximum=LARGEST_SIDE,
        step=32,
        allowed=f"0, or a multiple of 32 up to {LARGEST_SIDE}",
    )
    rare_crop_share: float = setting(
        0.0,
        "Rare-class crops",
        "Share of training crops centred on a pixel of a rare class, drawn the rarer the more often "
        "(DAFormer's rare-class sampling over the training split's pixel shares); the rest are "
        "random. Needs crops.",
        "off: with OHEM, it lowered mean IoU on held-out synthetic RescueNet scenes (0.345 vs 0.360) "
        "while doubling vehicle IoU (0.10 to 0.20): turn it on for rare classes (benchmarks analysis, section 24)",
        minimum=0.0,
        maximum=1.0,
        step=0.05,
        format="%.2f",
    )
    resolution: int = setting(
        1024,
        "Resolution (px)",
        "Working resolution: photos are resized once so that their long side is this many pixels.",
        "the top of the Harvey teams' range (256..1024)",
        group="data",
        minimum=32,
        step=64,
    )
    gsd_cm: float = setting(
        0.0,
        "Photo GSD (cm/px)",
        "The photos' ground sample distance at their original size; 0 reads the dataset's gsd.json "
        "(else unknown). Recorded as the model's working GSD for orthomosaics.",
        "most datasets either carry gsd.json or have no known GSD",
        group="hidden",
        allowed="0, or 0.1..10000",
    )
    augment: str = setting(
        "seed",
        "Augmentation",
        "Random changes to each training crop: none, the study's rot90 + flips, or strong (+ scale, "
        "colour, blur, shadows).",
        "the study's rot90 + flips",
        group="data",
        choices=AUGMENT_PRESETS,
        choice_labels=choices.AUGMENT_LABELS,
    )
    val_ratio: float = setting(
        0.15,
        "Validation share",
        "Part of the photos held out to score each validation.",
        "the study's split",
        group="data",
        minimum=0.0,
        maximum=0.9,
        step=0.05,
        format="%.2f",
    )
    seed: int = setting(
        0,
        "Seed",
        "Same seed, same split and same crops.",
        "any fixed seed makes a run repeatable",
        group="data",
        minimum=0,
    )
    early_stop_patience: int = setting(
        10,
        "Early-stop patience (epochs)",
        "Stop after this many validations without a better val Dice; 0 = run every epoch.",
        "ends a plateau without cutting a slow start short",
        group="optimisation",
        minimum=0,
    )
    checkpoint_every: int = setting(
        1,
        "Checkpoint every (epochs)",
        "Validate and save last.pt/best.pt every N epochs, after the last and on a stop; a kill "
        "loses at most N epochs. Early-stop patience then counts validations.",
        "a kill loses at most one epoch; raise it when a few photos make 2-step epochs",
        group="hidden",
        minimum=1,
    )
    device: str = setting(
        "auto",
        "Device",
        "auto: CUDA GPU, else Apple GPU, else CPU.",
        "the fastest device present",
        choices=choices.DEVICES,
    )
    amp: str = setting(
        "auto",
        "Mixed precision",
        "auto: bf16 (or fp16 with loss scaling) autocast on CUDA, off elsewhere.",
        "autocast only where it is faster: CUDA",
        choices=choices.AMP_MODES,
    )
    num_workers: int = setting(
        -1,
        "Data-loading workers",
        "Processes feeding batches; -1: automatic (none on CPU, where workers would steal compute "
        "from training).",
        "automatic: none on CPU, the cores shared among processes on GPU",
        minimum=-1,
    )
    name: str = setting(
        "",
        "Run name",
        "A name for the run in Runs and on Train; optional.",
        "the run id names it when empty",
        group="hidden",
        allowed="text",
    )
