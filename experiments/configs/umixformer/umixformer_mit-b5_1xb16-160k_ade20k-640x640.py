# MiT-B5 at 640x640 crops (official umixformer_mit-b5_8xb2-160k_ade20k-640x640.py): its own
# TA640/EA640 pipelines, scale (2048, 640) with ResizeToMultiple 32, not mmseg's
# ade20k_640x640.py (2560, 640).
_base_ = ['./umixformer_mit-b5_1xb16-160k_ade20k-512x512.py']
crop_size = (640, 640)
model = dict(data_preprocessor=dict(size=crop_size))
train_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_train_640}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.ade20k_eval_640}}))
test_dataloader = val_dataloader
