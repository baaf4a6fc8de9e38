# Mini-ADE20K: a generated semantic segmentation set in mmseg's ADE20K layout
# (tools/misc/make_mini_ade20k.py writes it): 128 x 128 scenes of sky, ground
# and shapes whose class is their texture. Label 0 is "other" and is ignored
# with reduce_zero_label=True, as for ADE20K. The classes are this set's own,
# so the dataset is mmseg's BaseSegDataset with ADE20K's file suffixes (an
# ADE20KDataset would remap them onto the 150 ADE20K names) and mIoU is
# computed over these five classes only.
dataset_type = 'BaseSegDataset'
data_root = 'data/mini_ade20k/'
metainfo = dict(
    classes=('sky', 'ground', 'stripes', 'checkerboard', 'dots'),
    palette=[[70, 130, 180], [140, 90, 40], [220, 20, 60], [0, 128, 255],
             [250, 190, 30]])
image_scale = (128, 128)
crop_size = (112, 112)
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomResize',
        scale=image_scale,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]

_dataset = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True,
    backend_args=backend_args)

# The images are tiny, so loading them in the training process is cheaper on
# a 2-core machine than feeding it from worker processes.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **_dataset,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_dataset,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
