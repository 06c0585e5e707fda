BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('v3.2.0.a');
CREATE TABLE studies (
	study_id INTEGER NOT NULL, 
	study_name VARCHAR(512) NOT NULL, 
	PRIMARY KEY (study_id)
);
INSERT INTO "studies" VALUES(1,'legacy/w0.333333/finetune/privacy');
INSERT INTO "studies" VALUES(2,'legacy/w1/finetune/privacy');
INSERT INTO "studies" VALUES(3,'legacy/_originals');
CREATE TABLE study_directions (
	study_direction_id INTEGER NOT NULL, 
	direction VARCHAR(8) NOT NULL, 
	study_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	PRIMARY KEY (study_direction_id), 
	UNIQUE (study_id, objective), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_directions" VALUES(1,'MINIMIZE',1,0);
INSERT INTO "study_directions" VALUES(2,'MINIMIZE',1,1);
INSERT INTO "study_directions" VALUES(3,'MINIMIZE',2,0);
INSERT INTO "study_directions" VALUES(4,'MINIMIZE',2,1);
INSERT INTO "study_directions" VALUES(5,'MINIMIZE',3,0);
CREATE TABLE study_system_attributes (
	study_system_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_system_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_system_attributes" VALUES(1,1,'study:metric_names','["privacy_gap", "val_error"]');
INSERT INTO "study_system_attributes" VALUES(2,2,'study:metric_names','["privacy_gap", "val_error"]');
INSERT INTO "study_system_attributes" VALUES(3,3,'study:metric_names','["test_error"]');
INSERT INTO "study_system_attributes" VALUES(4,3,'artifacts:76fb7765-8f00-4770-a993-fded2eac6cb4','"{\"artifact_id\": \"76fb7765-8f00-4770-a993-fded2eac6cb4\", \"filename\": \"legacy-splits.json\", \"mimetype\": \"application/json\", \"encoding\": null}"');
CREATE TABLE study_user_attributes (
	study_user_attribute_id INTEGER NOT NULL, 
	study_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (study_user_attribute_id), 
	UNIQUE (study_id, "key"), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "study_user_attributes" VALUES(1,1,'experiment','"legacy"');
INSERT INTO "study_user_attributes" VALUES(2,1,'width','0.3333333');
INSERT INTO "study_user_attributes" VALUES(3,1,'sparsity','0.0');
INSERT INTO "study_user_attributes" VALUES(4,1,'method','"finetune"');
INSERT INTO "study_user_attributes" VALUES(5,1,'goal','"privacy"');
INSERT INTO "study_user_attributes" VALUES(6,1,'n_trials','2');
INSERT INTO "study_user_attributes" VALUES(7,1,'spec_hash','"a644777fe69c257e7005070254088b9a76eb45d71b049a9cbe5991766b0dbc0a"');
INSERT INTO "study_user_attributes" VALUES(8,1,'splits_digest','"71fd6c876eff807c500ba61bf396498c8358263ffa666dd12997cc7b21b51770"');
INSERT INTO "study_user_attributes" VALUES(9,1,'spec','{"name": "legacy", "dataset": "synthetic", "architecture": "mlp", "widths": [0.3333333, 1.0], "data_dir": "", "sparsities": [0.0], "methods": ["finetune"], "goals": ["privacy"], "lambdas": [0.2, 0.4, 0.6], "n_trials": 2, "seed": 0, "forget": {"size": 30, "selection": "random", "classes": [], "corrupt_labels": false}, "validation": {"fraction": 0.1}, "original": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "schedule": "cosine", "augment": false, "label_smoothing": 0.0}, "unlearning": {"augment": false}, "evaluation": {"batch_size": 1024, "mia_max_examples": 10000, "delta": 1.0, "region_samples": 20}, "sampler": {"name": "tpe", "seed": 0}, "runtime": {"compile": false, "deterministic": false}, "search": {"finetune": {"epochs": {"low": 1.0, "high": 2.0, "log": false}}}, "synthetic": {"train_size": 300, "test_size": 200}}');
INSERT INTO "study_user_attributes" VALUES(10,2,'experiment','"legacy"');
INSERT INTO "study_user_attributes" VALUES(11,2,'width','1.0');
INSERT INTO "study_user_attributes" VALUES(12,2,'sparsity','0.0');
INSERT INTO "study_user_attributes" VALUES(13,2,'method','"finetune"');
INSERT INTO "study_user_attributes" VALUES(14,2,'goal','"privacy"');
INSERT INTO "study_user_attributes" VALUES(15,2,'n_trials','2');
INSERT INTO "study_user_attributes" VALUES(16,2,'spec_hash','"a644777fe69c257e7005070254088b9a76eb45d71b049a9cbe5991766b0dbc0a"');
INSERT INTO "study_user_attributes" VALUES(17,2,'splits_digest','"71fd6c876eff807c500ba61bf396498c8358263ffa666dd12997cc7b21b51770"');
INSERT INTO "study_user_attributes" VALUES(18,2,'spec','{"name": "legacy", "dataset": "synthetic", "architecture": "mlp", "widths": [0.3333333, 1.0], "data_dir": "", "sparsities": [0.0], "methods": ["finetune"], "goals": ["privacy"], "lambdas": [0.2, 0.4, 0.6], "n_trials": 2, "seed": 0, "forget": {"size": 30, "selection": "random", "classes": [], "corrupt_labels": false}, "validation": {"fraction": 0.1}, "original": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "schedule": "cosine", "augment": false, "label_smoothing": 0.0}, "unlearning": {"augment": false}, "evaluation": {"batch_size": 1024, "mia_max_examples": 10000, "delta": 1.0, "region_samples": 20}, "sampler": {"name": "tpe", "seed": 0}, "runtime": {"compile": false, "deterministic": false}, "search": {"finetune": {"epochs": {"low": 1.0, "high": 2.0, "log": false}}}, "synthetic": {"train_size": 300, "test_size": 200}}');
INSERT INTO "study_user_attributes" VALUES(19,3,'kind','"originals"');
INSERT INTO "study_user_attributes" VALUES(20,3,'experiment','"legacy"');
INSERT INTO "study_user_attributes" VALUES(21,3,'splits_artifact_id','"76fb7765-8f00-4770-a993-fded2eac6cb4"');
INSERT INTO "study_user_attributes" VALUES(22,3,'artifacts','"/tmp/i15/legacy/artifacts"');
INSERT INTO "study_user_attributes" VALUES(23,3,'splits_digest','"71fd6c876eff807c500ba61bf396498c8358263ffa666dd12997cc7b21b51770"');
INSERT INTO "study_user_attributes" VALUES(24,3,'spec_hash','"a644777fe69c257e7005070254088b9a76eb45d71b049a9cbe5991766b0dbc0a"');
INSERT INTO "study_user_attributes" VALUES(25,3,'spec','{"name": "legacy", "dataset": "synthetic", "architecture": "mlp", "widths": [0.3333333, 1.0], "data_dir": "", "sparsities": [0.0], "methods": ["finetune"], "goals": ["privacy"], "lambdas": [0.2, 0.4, 0.6], "n_trials": 2, "seed": 0, "forget": {"size": 30, "selection": "random", "classes": [], "corrupt_labels": false}, "validation": {"fraction": 0.1}, "original": {"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "schedule": "cosine", "augment": false, "label_smoothing": 0.0}, "unlearning": {"augment": false}, "evaluation": {"batch_size": 1024, "mia_max_examples": 10000, "delta": 1.0, "region_samples": 20}, "sampler": {"name": "tpe", "seed": 0}, "runtime": {"compile": false, "deterministic": false}, "search": {"finetune": {"epochs": {"low": 1.0, "high": 2.0, "log": false}}}, "synthetic": {"train_size": 300, "test_size": 200}}');
CREATE TABLE trial_heartbeats (
	trial_heartbeat_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	heartbeat DATETIME NOT NULL, 
	PRIMARY KEY (trial_heartbeat_id), 
	UNIQUE (trial_id), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trial_intermediate_values (
	trial_intermediate_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	step INTEGER NOT NULL, 
	intermediate_value FLOAT, 
	intermediate_value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_intermediate_value_id), 
	UNIQUE (trial_id, step), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trial_params (
	param_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	param_name VARCHAR(512), 
	param_value FLOAT, 
	distribution_json TEXT, 
	PRIMARY KEY (param_id), 
	UNIQUE (trial_id, param_name), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trial_system_attributes (
	trial_system_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_system_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_system_attributes" VALUES(1,1,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(2,2,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(3,3,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(4,4,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(5,5,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(6,6,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(7,7,'fixed_params','{}');
INSERT INTO "trial_system_attributes" VALUES(8,8,'fixed_params','{}');
CREATE TABLE trial_user_attributes (
	trial_user_attribute_id INTEGER NOT NULL, 
	trial_id INTEGER, 
	"key" VARCHAR(512), 
	value_json TEXT, 
	PRIMARY KEY (trial_user_attribute_id), 
	UNIQUE (trial_id, "key"), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
INSERT INTO "trial_user_attributes" VALUES(1,1,'ticket','true');
INSERT INTO "trial_user_attributes" VALUES(2,2,'ticket','true');
INSERT INTO "trial_user_attributes" VALUES(3,3,'ticket','true');
INSERT INTO "trial_user_attributes" VALUES(4,4,'ticket','true');
INSERT INTO "trial_user_attributes" VALUES(5,5,'kind','"original"');
INSERT INTO "trial_user_attributes" VALUES(6,5,'width','0.3333333');
INSERT INTO "trial_user_attributes" VALUES(7,5,'sparsity','0.0');
INSERT INTO "trial_user_attributes" VALUES(8,6,'kind','"original"');
INSERT INTO "trial_user_attributes" VALUES(9,6,'width','1.0');
INSERT INTO "trial_user_attributes" VALUES(10,6,'sparsity','0.0');
INSERT INTO "trial_user_attributes" VALUES(11,7,'kind','"retrain"');
INSERT INTO "trial_user_attributes" VALUES(12,7,'width','0.3333333');
INSERT INTO "trial_user_attributes" VALUES(13,7,'sparsity','0.0');
INSERT INTO "trial_user_attributes" VALUES(14,8,'kind','"retrain"');
INSERT INTO "trial_user_attributes" VALUES(15,8,'width','1.0');
INSERT INTO "trial_user_attributes" VALUES(16,8,'sparsity','0.0');
CREATE TABLE trial_values (
	trial_value_id INTEGER NOT NULL, 
	trial_id INTEGER NOT NULL, 
	objective INTEGER NOT NULL, 
	value FLOAT, 
	value_type VARCHAR(7) NOT NULL, 
	PRIMARY KEY (trial_value_id), 
	UNIQUE (trial_id, objective), 
	FOREIGN KEY(trial_id) REFERENCES trials (trial_id)
);
CREATE TABLE trials (
	trial_id INTEGER NOT NULL, 
	number INTEGER, 
	study_id INTEGER, 
	state VARCHAR(8) NOT NULL, 
	datetime_start DATETIME, 
	datetime_complete DATETIME, 
	PRIMARY KEY (trial_id), 
	FOREIGN KEY(study_id) REFERENCES studies (study_id)
);
INSERT INTO "trials" VALUES(1,0,1,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(2,1,1,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(3,0,2,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(4,1,2,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(5,0,3,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(6,1,3,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(7,2,3,'WAITING',NULL,NULL);
INSERT INTO "trials" VALUES(8,3,3,'WAITING',NULL,NULL);
CREATE TABLE version_info (
	version_info_id INTEGER NOT NULL, 
	schema_version INTEGER, 
	library_version VARCHAR(256), 
	PRIMARY KEY (version_info_id), 
	CHECK (version_info_id=1)
);
INSERT INTO "version_info" VALUES(1,12,'5.0.0');
CREATE UNIQUE INDEX ix_studies_study_name ON studies (study_name);
CREATE INDEX ix_trials_study_id ON trials (study_id);
COMMIT;
