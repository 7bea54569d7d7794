"""DynamoDB stores: one module per table, each knowing only its table's item shape."""
