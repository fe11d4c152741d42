"""Label schemes: the classes a mask's ids stand for (ids, names, colours) and what each class means to the figures."""
