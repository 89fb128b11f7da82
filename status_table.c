/* status_table: filled by the status issue */
