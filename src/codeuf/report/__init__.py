"""Reports: terminal tables, dataset cards, (later) plots and HTML."""
