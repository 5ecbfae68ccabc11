# DOTA-v1.0, horizontal boxes, on 1024 px patches with 200 px overlap:
#   python tools/dataset_converters/dota_split.py data/DOTA/train data/DOTA_split/train
#   python tools/dataset_converters/dota_split.py data/DOTA/val data/DOTA_split/val
_base_ = ['./rs_det.py']
num_classes = 15
