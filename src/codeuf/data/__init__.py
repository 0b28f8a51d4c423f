"""Record files and datasets: reading, validating and writing them safely."""
