"""One module per kind of data source, each returning a ddpm.data.ImageDataset; ddpm.data.load_dataset picks one."""
