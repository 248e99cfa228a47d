# Kernel configuration for the book's virtual environment; `make` copies it to .venv/etc/ipython/.
#
# TensorFlow's C++ runtime writes log lines (oneDNN notices, absl's "All log messages before
# absl::InitializeLog()") straight to file descriptor 2, ignoring TF_CPP_MIN_LOG_LEVEL. ipykernel
# forwards such OS-level output into the cell that happens to run, so every chapter's setup cell would
# carry them in the notebook and the HTML. Leave them in the kernel's own log instead; Python-level
# output (print, warnings) still reaches the cells.
c = get_config()  # noqa: F821 (provided by IPython when it loads this file)
c.IPKernelApp.capture_fd_output = False
