"""Built-in exporters. Each is `write(bundle, indices, folder, name, manifest)`."""

from ..curation.exporters import export_hdf5, export_imagefolder, export_npy
from ..hookspecs import hookimpl


@hookimpl
def advq_register_exporters(register):
    register("npy", export_npy, description="<name>.npy: sorted int64 training indices (advq train --subset reads it)")
    register("imagefolder", export_imagefolder, description="<name>/<label>-<class>/<index>.png for torchvision's ImageFolder (an imagefolder: dataset's original files, copied)")
    register("hdf5", export_hdf5, description="<name>.h5: uint8 images (M, C, H, W), int64 labels and original indices")
