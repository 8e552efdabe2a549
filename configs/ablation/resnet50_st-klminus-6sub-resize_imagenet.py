# ST++ ablation, rung 4: + random smaller subnet inputs (0.43-1.0 of the
# crop). The last rung, + the inter-stage rule 'paper', is the full ST++
# recipe: ../resnet50_stim_imagenet.py (published 80.50% top-1).
_base_ = ['./resnet50_st-klminus-6sub_imagenet.py']

model = dict(
    subnet_resize=dict(
        _delete_=True, type='RandomSubnetResize', min_scale=0.43))
