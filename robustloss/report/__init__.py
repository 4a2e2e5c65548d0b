"""Study tier: paper tables (`robustloss.report.tables`), their layouts and plots
(`robustloss.report.layouts`, `robustloss.report.plots`) and the LDR reproduction report
(`robustloss.report.ldr`), all computed from a sweep's results table."""
