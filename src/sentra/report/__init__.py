"""KPI reports as PDF (seed 002): a one-page record of a rollout or of the node.

``data`` gathers a plain :class:`~sentra.report.model.Report` from the stores' public
methods; ``charts`` draws its series with matplotlib; ``pdf`` lays it out with reportlab;
``service`` saves, lists and prunes the files under ``<data dir>/reports/``. The renderer
only ever sees the plain model, so it does not care which store backend filled it.
"""
