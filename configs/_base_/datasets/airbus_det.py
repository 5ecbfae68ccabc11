# Airbus aircraft (real Pleiades images, ../shared/data/airbus_aircraft),
# converted and cut into 512 px patches:
#   python tools/dataset_converters/airbus_to_dota.py ../shared/data/airbus_aircraft data/airbus_dota
#   python tools/dataset_converters/dota_split.py data/airbus_dota/train data/airbus_split/train --size 512 --gap 128
#   python tools/dataset_converters/dota_split.py data/airbus_dota/valid data/airbus_split/val --size 512 --gap 128
_base_ = ['./rs_det.py']
data_root = 'data/airbus_split/'
num_classes = 15  # DOTA's class list; only `plane` occurs
img_scale = (512, 512)
