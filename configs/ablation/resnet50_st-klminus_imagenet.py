# ST++ ablation, rung 2: vanilla ST (resnet50_st_imagenet.py) + the KL- loss
# (KL on layer-normalised logits, amplitude 1; main cross-entropy on the
# normalised logits). Next rung: resnet50_st-klminus-6sub_imagenet.py.
_base_ = ['../resnet50_st_imagenet.py']

model = dict(
    distill_loss=dict(normalize='layernorm', amplitude=1.0),
    normalize_main_logits=True)
