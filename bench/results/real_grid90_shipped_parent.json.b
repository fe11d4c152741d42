{
 "finetune_report": {
  "road-dubai-r/recipe_4": {
   "iou": 0.3201,
   "flooded_share": 0.0,
   "photos": 4,
   "minutes": 10.57,
   "cpu_minutes": 8.07,
   "status": "completed",
   "epochs": 90,
   "started_from": "parent",
   "load_avg_1min": 2.92
  },
  "vegetation-dubai-r/recipe_4": {
   "iou": 0.2259,
   "flooded_share": 0.0,
   "photos": 4,
   "minutes": 12.23,
   "cpu_minutes": 8.39,
   "status": "completed",
   "epochs": 90,
   "started_from": "imagenet",
   "load_avg_1min": 3.04
  }
 }
}
