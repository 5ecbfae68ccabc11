# Airbus aircraft (real Pleiades images at 50 cm, the public Airbus Aircraft
# Detection sample set unpacked to data/airbus_aircraft),
# converted to DOTA labelTxt, downscaled by 0.5 and cut into 256 px patches
# (a CPU-scale protocol: aircraft are then about 15-40 px):
#   python tools/dataset_converters/airbus_to_dota.py data/airbus_aircraft data/airbus_dota
#   python tools/dataset_converters/dota_split.py data/airbus_dota/train data/airbus_256/train \
#       --size 256 --gap 0 --rates 0.5 --skip-empty
#   python tools/dataset_converters/dota_split.py data/airbus_dota/valid data/airbus_256/val \
#       --size 256 --gap 0 --rates 0.5
_base_ = ['./rs_det.py']
data_root = 'data/airbus_256/'
num_classes = 15  # DOTA's class list; only `plane` occurs
img_scale = (256, 256)

train_pipeline = _base_.train_pipeline
train_pipeline[2].scale = img_scale  # the Resize step of rs_det.py
test_pipeline = _base_.test_pipeline
test_pipeline[1].scale = img_scale
train_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
