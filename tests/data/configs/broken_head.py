# Builds no model: the head rejects the key/value source set (a failing task for the tests).
_base_ = ['../../../experiments/configs/umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']
model = dict(decode_head=dict(kv_sources='nonsense'))
