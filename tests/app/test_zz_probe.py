import shutil
from test_train_page import dataset, fake_launch, train_page, click  # noqa
from test_every_control import settings, trouble
from seg_core.core import paths
from seg_core.runs.registry import RunRegistry

def test_probe(dataset, fake_launch):
    names = [n for n, _, _ in settings(train_page())]
    for i, name in enumerate(names):
        shutil.rmtree(paths.data_root() / "runs", ignore_errors=True)
        at = train_page()
        n, el, v = settings(at)[i]
        el.set_value(v)
        at.run()
        click(at, "Start training")
        out = [str(e.value)[:150] for e in [*at.error, *at.success, *at.warning]] + [str(e.value)[:300] for e in at.exception]
        print("PROBE", name, "|", trouble(at), "|", out, "| runs", len(RunRegistry().list()))
